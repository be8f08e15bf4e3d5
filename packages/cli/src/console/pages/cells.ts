import { html, type Html } from "../html.js";
import { isMissing, type Maybe } from "../source.js";

/** A field this broker does not have: said in words (hover for why), never a 0 that reads as a measurement. */
const notHere = (why: string, cls: string): Html => html`<td class="${cls}"><span class="muted na" title="${why}">n/a: ${why}</span></td>`;

/** A table cell of a value the broker may not have. */
export function cell(v: Maybe<string | number>, extra = ""): Html {
  if (isMissing(v)) return notHere(v.missing, extra);
  return html`<td${extra ? html` class="${extra}"` : ""}>${v}</td>`;
}

/** A numeric cell (right-aligned), `bad` when asked. */
export function num(v: Maybe<string | number>, bad = false): Html {
  if (isMissing(v)) return notHere(v.missing, "num");
  return html`<td class="num${bad ? " bad" : ""}">${v}</td>`;
}

/** A cell of code (a filter, an ack wait). */
export function codeCell(v: Maybe<string>): Html {
  if (isMissing(v)) return notHere(v.missing, "");
  return html`<td><code>${v}</code></td>`;
}
