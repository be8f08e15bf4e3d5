import type { ServerResponse } from "node:http";
import { decodeEventJson } from "../../schemas.js";
import { html, type Html } from "../html.js";
import type { ConsoleContext } from "../context.js";
import { SECURITY_HEADERS } from "../http.js";
import type { ConsoleSource, TailMessage } from "../source.js";

export function tailPage(source: Pick<ConsoleSource, "tailNote" | "tailPlaceholder">, query: URLSearchParams): Html {
  const pattern = query.get("pattern")?.trim() ?? "";
  return html`<form class="filters" method="get" action="/tail" id="tail-form"><label>event or subject pattern<input name="pattern" size="48" value="${pattern}" placeholder="${source.tailPlaceholder}"></label><button type="submit">Tail</button></form>
<p class="muted" id="tail-note">${source.tailNote}</p>
${pattern === "" ? html`<p class="muted">Give an event (as the catalogue names it) or a subject pattern.</p>` : html`<p id="tail-status" class="muted">connecting…</p>
<table><thead><tr><th>time</th><th>subject</th><th>event type</th><th>id</th><th>payload (decoded)</th></tr></thead><tbody id="tail-rows" data-pattern="${pattern}"></tbody></table>`}`;
}

/** An event, as the tail's EventSource receives it. */
function record(ctx: ConsoleContext, m: TailMessage): Record<string, unknown> {
  const type = m.event?.type;
  const base = { subject: m.subject, type: type ?? null, id: m.event?.id ?? null, time: m.event?.time?.toISOString() ?? null };
  if (type === undefined) return { ...base, error: `no ce-type header: not a cozebus event (${m.data.length} bytes)` };
  try {
    const data = decodeEventJson(type, m.data, ctx.schemas);
    return data === undefined ? { ...base, error: `unknown event type ${type} (${m.data.length} bytes)` } : { ...base, data };
  } catch (err) {
    return { ...base, error: `undecodable ${type}: ${(err as Error).message}` };
  }
}

const sse = (res: ServerResponse, event: string | undefined, data: unknown): void => void res.write(`${event !== undefined ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`);

/**
 * Server-Sent Events: `ready` once the server has the interest (nothing
 * published after it is missed), then one message per event, decoded; the
 * subscription ends when the browser goes away.
 */
export async function tailEvents(ctx: ConsoleContext, query: URLSearchParams, res: ServerResponse): Promise<void> {
  res.writeHead(200, { ...SECURITY_HEADERS, "content-type": "text/event-stream; charset=utf-8", connection: "keep-alive" });
  const ref = query.get("pattern")?.trim() ?? "";
  let gone = false;
  res.once("close", () => (gone = true));
  let tail;
  try {
    tail = await ctx.source.tail(ref, (m) => sse(res, undefined, record(ctx, m)));
  } catch (err) {
    // A bad reference, a refused subscription (permissions) or a closed connection: said on the stream, where the page shows it.
    sse(res, "failed", { error: (err as Error).message });
    res.end();
    return;
  }
  if (gone) {
    // The browser left while the tail was being set up (a Pulsar subscription takes a few REST calls).
    await tail.stop();
    return;
  }
  const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    clearInterval(heartbeat);
    ctx.openTails.delete(stop);
    return (stopping ??= tail.stop());
  };
  ctx.openTails.add(stop);
  res.once("close", () => void stop());
  sse(res, "ready", { pattern: tail.listening });
}
