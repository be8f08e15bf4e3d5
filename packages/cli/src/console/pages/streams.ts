import { html, type Html } from "../html.js";
import type { ConsoleContext } from "../context.js";
import type { SchemaMatch } from "../source.js";
import { cell, num } from "./cells.js";

function schemaCell(m: SchemaMatch): Html {
  switch (m.kind) {
    case "matches":
      return html`<span class="ok">${m.text ?? "matches"}</span>`;
    case "differs":
      return html`<span class="bad">differs: ${m.differences.join("; ")}</span> <span class="muted">(${m.fix})</span>`;
    case "other":
      return html`<span class="muted">${m.text}</span>`;
  }
}

export async function streamsPage(ctx: ConsoleContext): Promise<Html> {
  const v = await ctx.source.streams();
  const t = v.titles;
  const absent = v.absent.length === 0 ? html`` : html`<p class="notice" id="absent">Not created yet (<code>cozebus provision</code> creates them): ${v.absent.map((a, i) => html`${i > 0 ? ", " : ""}<code>${a}</code>`)}</p>`;
  if (v.rows.length === 0) return html`<p class="notice">${v.empty}</p>${absent}`;
  return html`${v.note !== undefined ? html`<p class="muted" id="streams-note">${v.note}</p>` : ""}<table id="streams"><thead><tr><th>${t.name}</th><th>${t.subjects}</th><th>schemas</th><th>${t.messages}</th><th>${t.bytes}</th><th>${t.depth}</th><th>${t.last}</th><th>${t.consumers}</th><th>limits</th><th>cluster</th></tr></thead><tbody>
${v.rows.map(
  (s) => html`<tr data-stream="${s.name}"><td><strong>${s.name}</strong></td><td>${s.subjects.map((x) => html`<code>${x}</code><br>`)}</td><td>${schemaCell(s.schema)}</td>
${num(s.messages)}${num(s.bytes)}${num(s.depth)}${cell(s.last)}<td class="num">${s.consumers}</td>
<td>${s.limits.map((l, i) => html`${i > 0 ? html`<br>` : ""}${l}`)}</td>
<td>${s.cluster ? s.cluster.map((l, i) => html`${i > 0 ? html`<br>` : ""}${l}`) : html`<span class="muted">single server</span>`}</td></tr>`,
)}
</tbody></table>${absent}`;
}
