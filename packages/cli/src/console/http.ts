import type { IncomingMessage, ServerResponse } from "node:http";
import type { Html } from "./html.js";

/** A request as the pages see it: path, query and (for POST) the form fields. */
export interface Request {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  /** Form fields of a POST (application/x-www-form-urlencoded); empty otherwise. */
  readonly form: URLSearchParams;
  readonly raw: IncomingMessage;
}

/** What a page returns; the server writes it. */
export type Reply =
  | { readonly kind: "html"; readonly status?: number; readonly body: Html }
  | { readonly kind: "redirect"; readonly to: string }
  | { readonly kind: "handled" }; // the handler wrote the response itself (the SSE tail)

export const page = (body: Html, status?: number): Reply => ({ kind: "html", body, ...(status !== undefined ? { status } : {}) });
export const redirect = (to: string): Reply => ({ kind: "redirect", to });

/** Forms are small; anything larger is not one of ours. */
const MAX_BODY = 256 * 1024;

export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  if (req.method !== "POST") return new URLSearchParams();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new HttpError(413, `request body over ${MAX_BODY} bytes`);
    chunks.push(c);
  }
  const type = req.headers["content-type"] ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded")) throw new HttpError(415, `POST a form (application/x-www-form-urlencoded), not ${type || "no content type"}`);
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

/** An error that becomes a response with this status and message. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Headers every response carries: no framing, no sniffing, nothing loaded from another origin. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

export function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, "content-type": type, ...extra });
  res.end(body);
}
