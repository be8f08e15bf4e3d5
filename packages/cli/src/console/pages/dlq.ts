import { html, jsonBlock, type Html } from "../html.js";
import type { ConsoleContext } from "../context.js";
import { decodeLetter, filterParams, findDeadLetters, isFiltered, parseFilter, REASONS, SCAN_LIMIT, type DlqFilter } from "../dlq-data.js";
import { HttpError } from "../http.js";
import type { Letter } from "../source.js";

/** Rows a list shows; the filter actions still cover every match. */
const SHOWN = 200;

const localValue = (d: Date | undefined): string => (d === undefined ? "" : d.toISOString().slice(0, 16));

function filterForm(f: DlqFilter): Html {
  return html`<form class="filters" method="get" action="/dlq" id="dlq-filter">
<label>reason<select name="reason"><option value="">any</option>${REASONS.map((r) => html`<option${r === f.reason ? html` selected` : ""}>${r}</option>`)}</select></label>
<label>event type<input name="type" value="${f.type ?? ""}" placeholder="NodeFailed or coze.workflow.v1.NodeFailed"></label>
<label>since (UTC)<input type="datetime-local" name="since" value="${localValue(f.since)}"></label>
<label>until (UTC)<input type="datetime-local" name="until" value="${localValue(f.until)}"></label>
<button type="submit">Filter</button> <a href="/dlq">clear</a></form>`;
}

function preview(d: Letter, ctx: ConsoleContext): Html {
  const r = decodeLetter(d, ctx.schemas);
  if ("error" in r) return html`<span class="bad">${r.error}</span>`;
  const text = JSON.stringify(r.data);
  return html`<code>${text.length > 160 ? `${text.slice(0, 160)}…` : text}</code>`;
}

/** Hidden inputs that carry the filter into a POST. */
const hiddenFilter = (f: DlqFilter): Html => html`${[...filterParams(f)].map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}`;

export async function dlqListPage(ctx: ConsoleContext, query: URLSearchParams): Promise<Html> {
  const f = parseFilter(query);
  const { letters, stored, where } = await findDeadLetters(ctx, f);
  const consumerNoun = ctx.source.deadLetters.consumerNoun;
  const shown = letters.slice(0, SHOWN);
  const scope = stored > SCAN_LIMIT ? ` among the oldest ${SCAN_LIMIT}` : "";
  return html`${filterForm(f)}
<p class="muted" id="dlq-count">${letters.length} dead letter(s)${isFiltered(f) ? " match" : ""}${scope}; ${stored} stored in ${where}${letters.length > SHOWN ? `; the first ${SHOWN} shown` : ""}.</p>
<form method="post" action="/dlq/confirm" id="dlq-actions">${hiddenFilter(f)}
<div class="actions"><button name="do" value="replay-selected" class="primary">Replay selected</button><button name="do" value="delete-selected" class="danger">Delete selected</button>
<button name="do" value="replay-filter">Replay all ${letters.length} ${isFiltered(f) ? "matching" : ""}</button><button name="do" value="delete-filter" class="danger">Delete all ${letters.length} ${isFiltered(f) ? "matching" : ""}</button></div>
<table id="dlq"><thead><tr><th><input type="checkbox" data-select-all aria-label="select all"></th><th>#</th><th>time</th><th>reason</th><th>deliveries</th><th>event type</th><th>subject</th><th>origin</th><th>${consumerNoun}</th><th>error</th><th>payload (decoded)</th></tr></thead><tbody>
${shown.map(
  (d) => html`<tr data-seq="${d.id}"><td><input type="checkbox" name="seq" value="${d.id}" aria-label="select ${d.label}"></td><td><a href="${detailHref(d.id)}">${d.label}</a></td><td>${timeText(d.time)}</td><td><span class="badge">${d.reason}</span></td><td class="num">${d.deliveries ?? "?"}</td><td><code>${d.eventType ?? "-"}</code></td><td><code>${d.subject ?? "-"}</code></td><td>${d.origin}</td><td><code>${d.consumer ?? "-"}</code></td><td>${d.error ?? ""}</td><td>${preview(d, ctx)}</td></tr>`,
)}
</tbody></table></form>`;
}

/** A dead letter's page; an id is escaped into the path (a Pulsar id has a slash and colons). */
export const detailHref = (id: string): string => `/dlq/${id.split("/").map(encodeURIComponent).join("/")}`;

const timeText = (t: Date | undefined): string => t?.toISOString() ?? "not recorded";

export async function dlqDetailPage(ctx: ConsoleContext, idText: string): Promise<Html> {
  const dlq = ctx.source.deadLetters;
  const id = dlq.parseId(idText);
  if (id === undefined) throw new HttpError(404, `no dead letter ${JSON.stringify(idText)}: a dead letter is named by ${dlq.idShape}`);
  const d = await dlq.get(id);
  if (d === undefined) throw new HttpError(404, `no dead letter ${dlq.label(id)} in ${dlq.where}: it was replayed or deleted (the list shows those left)`);
  const decoded = decodeLetter(d, ctx.schemas);
  return html`<table id="dlq-entry"><tbody>
<tr><th>dead letter</th><td>${d.label} in ${d.keptIn}, ${timeText(d.time)}</td></tr>
<tr><th>reason</th><td><span class="badge">${d.reason}</span> after ${d.deliveries ?? "?"} deliveries</td></tr>
<tr><th>error</th><td>${d.error ?? ""}</td></tr>
<tr><th>event</th><td><code>${d.eventType ?? "-"}</code> id <code>${d.eventId ?? "-"}</code></td></tr>
<tr><th>subject</th><td><code>${d.subject ?? "-"}</code> (${d.originDetail}, ${dlq.consumerNoun} <code>${d.consumer ?? "-"}</code>)</td></tr>
</tbody></table>
<h2>Payload, decoded by schema</h2>
${"error" in decoded ? html`<p class="bad" id="decode-error">${decoded.error}</p><p class="muted">${d.data.length} bytes, base64:</p><pre class="json">${Buffer.from(d.data).toString("base64")}</pre>` : html`<div id="payload">${jsonBlock(decoded.data)}</div>`}
<h2>Headers</h2>${jsonBlock(d.headers)}
<form method="post" action="/dlq/confirm" class="actions"><input type="hidden" name="seq" value="${d.id}">
<button name="do" value="replay-selected" class="primary">Replay ${d.label}</button><button name="do" value="delete-selected" class="danger">Delete ${d.label}</button></form>`;
}
