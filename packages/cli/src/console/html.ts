/** HTML that is already safe to emit (markup we wrote, or escaped text). */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

type Part = Html | string | number | boolean | null | undefined | readonly Part[];

function render(p: Part): string {
  if (p === null || p === undefined || p === false) return "";
  if (p instanceof Html) return p.text;
  if (Array.isArray(p)) return (p as readonly Part[]).map(render).join("");
  return escapeHtml(String(p));
}

/**
 * Tagged template: every interpolated value is escaped unless it is Html,
 * so a dead letter's payload, a subject or an error message can never
 * become markup (they come from the bus, i.e. from anyone who may publish).
 */
export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => (out += render(v) + strings[i + 1]!));
  return new Html(out);
}

const NAV: ReadonlyArray<readonly [string, string]> = [
  ["/catalog", "Catalogue"],
  ["/streams", "Streams"],
  ["/consumers", "Consumers"],
  ["/dlq", "Dead letters"],
  ["/tail", "Live tail"],
];

/** The page frame: navigation, the local stylesheet and script (no CDN, nothing fetched from elsewhere). */
export function layout(title: string, active: string, body: Html, server: string): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · cozebus console</title><link rel="stylesheet" href="/assets/console.css"></head>
<body><header><strong>cozebus console</strong><nav>${NAV.map(([href, label]) => html`<a href="${href}"${href === active ? new Html(' class="active" aria-current="page"') : ""}>${label}</a>`)}</nav><span class="server">${server}</span></header>
<main><h1>${title}</h1>${body}</main><script src="/assets/console.js"></script></body></html>`;
}

/** Pretty JSON in a <pre>, escaped. */
export const jsonBlock = (v: unknown): Html => html`<pre class="json">${JSON.stringify(v, null, 2)}</pre>`;
