import { html, type Html } from "../html.js";
import type { ConsoleContext } from "../context.js";
import { cell, codeCell, num } from "./cells.js";

export async function consumersPage(ctx: ConsoleContext): Promise<Html> {
  const v = await ctx.source.consumers();
  const rows = [...v.rows].sort((a, b) => a.group.localeCompare(b.group) || a.container.localeCompare(b.container) || a.name.localeCompare(b.name));
  if (rows.length === 0) return html`<p class="notice">${v.empty}</p>`;
  const groups = [...new Set(rows.map((r) => r.group))];
  const t = v.titles;
  return html`<p class="muted" id="consumers-note">${v.note}</p>
${groups.map(
  (g) => html`<h2>group <code>${g}</code></h2>
<table class="consumers" data-group="${g}"><thead><tr><th>${t.container}</th><th>${t.name}</th><th>filter</th><th>${t.lag}</th><th>ack pending</th><th>redelivered</th><th>${t.waiting}</th><th>${t.delivered}</th><th>ack wait</th><th>max deliver</th></tr></thead><tbody>
${rows
  .filter((r) => r.group === g)
  .map((c) => html`<tr data-consumer="${c.name}" data-container="${c.container}"><td>${c.container}</td><td><code>${c.name}</code></td>${codeCell(c.filter)}${num(c.lag, c.lag > 0)}${num(c.ackPending)}${num(c.redelivered)}${num(c.waiting)}${num(c.delivered)}${cell(c.ackWait)}${num(c.maxDeliver)}</tr>`)}
</tbody></table>`,
)}`;
}
