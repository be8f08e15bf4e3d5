import { html, type Html } from "../html.js";
import type { DlqAction } from "../confirmations.js";
import type { ConsoleContext } from "../context.js";
import { findDeadLetters, parseFilter } from "../dlq-data.js";
import type { Outcome } from "../dlq-actions.js";
import { HttpError } from "../http.js";

/** The ticked dead letters, in the order the list shows them (NATS sequences as numbers). */
function parseIds(ctx: ConsoleContext, form: URLSearchParams): string[] {
  const dlq = ctx.source.deadLetters;
  const ids = form.getAll("seq").map((s) => {
    const id = dlq.parseId(s);
    if (id === undefined) throw new HttpError(400, `seq must be ${dlq.idShape}, got ${JSON.stringify(s)}`);
    return id;
  });
  return [...new Set(ids)].sort((a, b) => (/^\d+$/.test(a) && /^\d+$/.test(b) ? Number(a) - Number(b) : a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The confirmation step: what would be replayed or deleted, listed, and a
 * button that posts a nonce bound to exactly those dead letters. A filter
 * is resolved here, so the action covers what the operator saw.
 */
export async function confirmPage(ctx: ConsoleContext, form: URLSearchParams): Promise<Html> {
  const m = /^(replay|delete)-(selected|filter)$/.exec(form.get("do") ?? "");
  if (m === null) throw new HttpError(400, `do must be replay-selected, delete-selected, replay-filter or delete-filter, got ${JSON.stringify(form.get("do"))}`);
  const action = m[1] as DlqAction;
  const dlq = ctx.source.deadLetters;
  const letters = m[2] === "filter" ? (await findDeadLetters(ctx, parseFilter(form))).letters : (await Promise.all(parseIds(ctx, form).map((s) => dlq.get(s)))).filter((d) => d !== undefined);
  if (m[2] === "selected" && form.getAll("seq").length === 0) return html`<p class="notice">Nothing selected: tick the dead letters to ${action} first.</p><p><a href="/dlq">back to the dead letters</a></p>`;
  if (letters.length === 0) return html`<p class="notice">None of these dead letters is left (replayed or deleted meanwhile): nothing to ${action}.</p><p><a href="/dlq">back to the dead letters</a></p>`;
  const nonce = ctx.confirmations.issue(action, letters.map((d) => d.id));
  const what = action === "replay" ? "publish each event again to where it came from (every group on it gets it again), then remove it from the dead letters" : "remove each from the dead letters for good; the events are not published";
  return html`<p class="notice" id="confirm-question"><strong>${action === "replay" ? "Replay" : "Delete"} ${letters.length} dead letter(s)?</strong> This will ${what}.</p>
<table id="confirm-list"><thead><tr><th>#</th><th>event type</th><th>subject</th><th>reason</th><th>error</th></tr></thead><tbody>
${letters.map((d) => html`<tr data-seq="${d.id}"><td>${d.label}</td><td><code>${d.eventType ?? "-"}</code></td><td><code>${d.subject ?? "-"}</code></td><td>${d.reason}</td><td>${d.error ?? ""}</td></tr>`)}
</tbody></table>
<form method="post" action="/dlq/${action}" class="actions"><input type="hidden" name="nonce" value="${nonce}">
<button type="submit" id="confirm" class="${action === "replay" ? "primary" : "danger"}">Yes, ${action} ${letters.length}</button><a href="/dlq">Cancel</a></form>`;
}

function outcomeText(o: Outcome): Html {
  switch (o.outcome) {
    case "replayed":
      return html`<span class="ok">replayed</span> to <code>${o.to}</code> (${o.detail}${o.duplicate ? ", already stored: a duplicate, nothing stored twice" : ""})`;
    case "deleted":
      return html`<span class="ok">deleted</span>`;
    case "gone":
      return html`<span class="muted">already gone (replayed or deleted before): nothing done</span>`;
    case "failed":
      return html`<span class="bad">failed, kept in the DLQ: ${o.error}</span>`;
  }
}

export function resultPage(action: DlqAction, outcomes: readonly Outcome[]): Html {
  const count = (k: Outcome["outcome"]): number => outcomes.filter((o) => o.outcome === k).length;
  const done = action === "replay" ? count("replayed") : count("deleted");
  return html`<p class="notice" id="result-summary">${action === "replay" ? "Replayed" : "Deleted"} ${done}; already gone ${count("gone")}; failed ${count("failed")}.</p>
<table id="result"><thead><tr><th>#</th><th>outcome</th></tr></thead><tbody>
${outcomes.map((o) => html`<tr data-seq="${o.id}" data-outcome="${o.outcome}"><td>${o.label}</td><td>${outcomeText(o)}</td></tr>`)}
</tbody></table><p><a href="/dlq">back to the dead letters</a></p>`;
}

export function unconfirmed(action: DlqAction): HttpError {
  return new HttpError(403, `${action} needs the confirmation step: open the dead letters, choose ${action}, and confirm on the page that lists them (the confirmation is missing, expired or for another action)`);
}
