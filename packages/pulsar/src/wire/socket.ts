import WebSocket from "ws";
import { ConnectError, describe } from "@cozebus/core/transport";
import { statusError } from "./rest.js";

export interface SocketSettings {
  /** `ws://host:port/ws/v2` bases, tried in order. */
  readonly baseUrls: readonly string[];
  readonly source: string;
  readonly token: string | undefined;
  readonly ca: string | undefined;
  readonly timeoutMs: number;
}

/** A failure to open a socket: `retryable` false for 401/403 (the same token will be refused again) and 4xx. */
export class OpenError extends Error {
  constructor(
    readonly error: Error,
    readonly retryable: boolean,
  ) {
    super(error.message, { cause: error });
  }
}

/**
 * Opens one WebSocket to `path` (after /ws/v2), trying each base URL. The
 * token goes in the upgrade's Authorization header, never in the URL (URLs
 * reach the broker's access log).
 */
export async function openSocket(s: SocketSettings, path: string, what: string): Promise<WebSocket> {
  const failures: string[] = [];
  for (const base of s.baseUrls) {
    try {
      return await openOne(s, `${base}${path}`, what);
    } catch (err) {
      if (err instanceof OpenError && !err.retryable) throw err;
      failures.push(`${base}: ${describe(err)}`);
    }
  }
  throw new OpenError(new ConnectError(`cannot open the Pulsar WebSocket for ${what} (${s.source}): ${failures.join("; ")}`), true);
}

function openOne(s: SocketSettings, url: string, what: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (s.token !== undefined) headers["authorization"] = `Bearer ${s.token}`;
    const ws = new WebSocket(url, {
      headers,
      handshakeTimeout: s.timeoutMs,
      // Large frames are the broker's to refuse; ws's own default limit (100 MiB) stays out of the way.
      ...(s.ca !== undefined ? { ca: s.ca } : {}),
    });
    let settled = false;
    const fail = (err: OpenError): void => {
      if (settled) return;
      settled = true;
      ws.removeAllListeners();
      ws.on("error", () => {}); // a late error on a socket being torn down must not become an uncaught one
      ws.terminate();
      reject(err);
    };
    ws.once("open", () => {
      if (settled) return;
      settled = true;
      ws.removeAllListeners();
      resolve(ws);
    });
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        if (body.length < 4000) body += c;
      });
      const done = (): void => {
        const status = res.statusCode ?? 0;
        const reason = extractReason(body);
        // 5xx and 404 during a broker restart come and go; 400/401/403/409 will not change by retrying.
        fail(new OpenError(statusError(status, reason, what), status >= 500 || status === 404 || status === 0));
      };
      res.on("end", done);
      res.on("error", done);
    });
    ws.once("error", (err) => fail(new OpenError(err, true)));
  });
}

/** Jetty's error page carries the broker's message in its <title> / <pre>; JSON errors in `errorMsg` or `reason`. */
function extractReason(body: string): string {
  const text = body
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
  const m = /"errorMsg"\s*:\s*"([^"]*)"/.exec(text) ?? /"reason"\s*:\s*"([^"]*)"/.exec(text) ?? /<title>([^<]*)<\/title>/i.exec(text);
  return (m?.[1] ?? text.replace(/<[^>]*>/g, " ")).replace(/\s+/g, " ").trim().slice(0, 300);
}

/**
 * Pings keep idle sockets open through the broker's idle timeout
 * (webSocketSessionIdleTimeoutMillis, 5 min by default) and find dead
 * connections a crashed broker leaves behind; a socket silent for two
 * intervals is terminated, which starts a reconnect.
 */
export function keepAlive(ws: WebSocket, intervalMs = 30_000): () => void {
  let alive = true;
  const onPong = (): void => {
    alive = true;
  };
  ws.on("pong", onPong);
  const timer = setInterval(() => {
    if (!alive) {
      ws.terminate();
      return;
    }
    alive = false;
    try {
      ws.ping();
    } catch {
      // closing already
    }
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    ws.off("pong", onPong);
  };
}

export function backoff(attempt: number, initialMs: number, maxMs: number): number {
  const raw = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 20));
  return Math.round(raw * (0.8 + 0.2 * Math.random()));
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((r) => {
    setTimeout(r, ms);
  });

/** Closes a socket with a normal close handshake, waiting for it (bounded), so frames sent before (acks) reach the broker first. */
export function closeSocket(ws: WebSocket, timeoutMs = 5000): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      ws.terminate();
      resolve();
    }, timeoutMs);
    timer.unref();
    ws.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    ws.on("error", () => {});
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000);
  });
}
