import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

export const TOKEN_COOKIE = "cozebus_console";

/** True for the addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return undefined;
}

/**
 * The token a request presents: `Authorization: Bearer`, the cookie the
 * console sets after `?token=` (a browser's EventSource cannot send a
 * header), or `?token=` itself.
 */
export function presentedToken(req: IncomingMessage, query: URLSearchParams): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith("Bearer ")) return auth.slice("Bearer ".length);
  return query.get("token") ?? cookie(req, TOKEN_COOKIE);
}

export function tokenMatches(presented: string | undefined, token: string): boolean {
  return presented !== undefined && same(presented, token);
}

/**
 * On a loopback address without a token, the Host header must name it too:
 * otherwise a web page whose name is rebound to 127.0.0.1 (DNS rebinding)
 * could read the console and post its forms from the user's own browser.
 */
export function hostAllowed(req: IncomingMessage, bound: string, port: number): boolean {
  const host = (req.headers.host ?? "").toLowerCase();
  const own = bound.includes(":") ? `[${bound}]` : bound;
  return [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${own.toLowerCase()}:${port}`].includes(host);
}
