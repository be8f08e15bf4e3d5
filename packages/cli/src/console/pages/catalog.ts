import { catalog } from "../../catalog.js";
import { html, type Html } from "../html.js";
import type { ConsoleContext } from "../context.js";

interface Row {
  readonly domain: string;
  readonly name: string;
  readonly type: string;
  readonly subject: string;
  readonly qos: string;
  readonly fields: ReadonlyArray<{ readonly name: string; readonly type: string }>;
  readonly source: string;
}

/** The build's events, plus those only the --schemas descriptor set knows (a newer schema than this build). */
export function catalogRows(ctx: Pick<ConsoleContext, "schemas">): Row[] {
  const rows: Row[] = catalog.events.map((e) => ({
    domain: e.domain,
    name: e.name,
    type: e.def.type,
    subject: e.def.subject,
    qos: e.def.qos,
    fields: e.fields,
    source: ctx.schemas?.eventDef(e.def.type) !== undefined ? "build + --schemas" : "build",
  }));
  for (const { def, fields } of ctx.schemas?.events() ?? []) {
    if (rows.some((r) => r.type === def.type)) continue;
    rows.push({ domain: def.subject.split(".")[1] ?? "?", name: def.type.slice(def.type.lastIndexOf(".") + 1), type: def.type, subject: def.subject, qos: def.qos, fields, source: "--schemas only" });
  }
  return rows;
}

export function catalogPage(ctx: ConsoleContext): Html {
  const rows = catalogRows(ctx);
  const operations = catalog.operations;
  return html`<p class="muted">${rows.length} events${ctx.schemas ? " (this build's and the --schemas descriptor set's)" : " of this build; --schemas adds a newer descriptor set's"}.</p>
<table id="events"><thead><tr><th>domain</th><th>event</th><th>proto type</th><th>subject template</th><th>quality of service</th><th>fields</th><th>from</th></tr></thead><tbody>
${rows.map((r) => html`<tr><td>${r.domain}</td><td>${r.name}</td><td><code>${r.type}</code></td><td><code>${r.subject}</code></td><td>${r.qos}</td><td>${r.fields.map((f) => html`<code>${f.name}</code> <span class="muted">${f.type}</span><br>`)}</td><td><span class="badge">${r.source}</span></td></tr>`)}
</tbody></table>
<h2>Request/reply operations</h2>
<table id="operations"><thead><tr><th>domain</th><th>operation</th><th>request type</th><th>subject template</th></tr></thead><tbody>
${operations.map((o) => html`<tr><td>${o.domain}</td><td>${o.name}</td><td><code>${o.def.requestType}</code></td><td><code>${o.def.subject}</code></td></tr>`)}
</tbody></table>`;
}
