import type { ServerResponse } from "node:http";
import { checkSubscribePattern, isCozebusError } from "@cozebus/nats";
import { findEvent } from "../../catalog.js";
import { decodeEventJson } from "../../schemas.js";
import { html, type Html } from "../html.js";
import type { ConsoleContext } from "../context.js";
import { SECURITY_HEADERS } from "../http.js";

export function tailPage(query: URLSearchParams): Html {
  const pattern = query.get("pattern")?.trim() ?? "";
  return html`<form class="filters" method="get" action="/tail" id="tail-form"><label>event or subject pattern<input name="pattern" size="48" value="${pattern}" placeholder="coze.workflow.> or workflow.nodeFailed"></label><button type="submit">Tail</button></form>
<p class="muted">Core NATS, like <code>cozebus sub</code>: it sees what is published while it listens and takes nothing from any group.</p>
${pattern === "" ? html`<p class="muted">Give an event (as the catalogue names it) or a subject pattern.</p>` : html`<p id="tail-status" class="muted">connecting…</p>
<table><thead><tr><th>time</th><th>subject</th><th>event type</th><th>id</th><th>payload (decoded)</th></tr></thead><tbody id="tail-rows" data-pattern="${pattern}"></tbody></table>`}`;
}

/** An event, as the tail's EventSource receives it. */
function record(ctx: ConsoleContext, m: { subject: string; data: Uint8Array; event?: { type: string; id: string; time?: Date | undefined } | undefined }): Record<string, unknown> {
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
  let pattern: string;
  try {
    const def = ctx.schemas?.eventDef(ref) ?? findEvent(ref)?.def;
    pattern = def !== undefined ? ctx.bus.pattern(def.subject) : checkSubscribePattern(ref);
  } catch (err) {
    sse(res, "failed", { error: isCozebusError(err) ? err.message : `not an event or subject pattern: ${(err as Error).message}` });
    res.end();
    return;
  }
  let sub;
  try {
    sub = await ctx.bus.subscribe(pattern, (m) => sse(res, undefined, record(ctx, m)));
  } catch (err) {
    // A refused subscription (permissions) or a closed connection: said on the stream, where the page shows it.
    sse(res, "failed", { error: `cannot tail ${pattern}: ${(err as Error).message}` });
    res.end();
    return;
  }
  const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
  res.once("close", () => {
    clearInterval(heartbeat);
    sub.unsubscribe();
  });
  sse(res, "ready", { pattern });
}
