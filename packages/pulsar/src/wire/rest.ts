import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { AuthError, ConnectError, PermissionError } from "@cozebus/core/transport";

export interface RestResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
  text(): string;
  json<T = unknown>(): T;
}

export interface RestClientOptions {
  readonly baseUrls: readonly string[];
  /** Names where the URLs came from, for errors (PULSAR_WEB_SERVICE_URL / MQ_NAME_SERVER). */
  readonly source: string;
  readonly token: string | undefined;
  readonly ca: string | undefined;
  readonly timeoutMs: number;
}

/**
 * The admin REST API over node:http(s), not fetch: a custom CA
 * (PULSAR_TLS_CA_FILE) needs an agent option global fetch does not take
 * without undici. Tries the configured web service URLs in order, sticking
 * with the last one that answered.
 */
export class RestClient {
  #current = 0;
  constructor(readonly options: RestClientOptions) {}

  get baseUrl(): string {
    return this.options.baseUrls[this.#current]!;
  }

  async call(method: string, path: string, body?: unknown): Promise<RestResponse> {
    const errors: string[] = [];
    const n = this.options.baseUrls.length;
    for (let i = 0; i < n; i++) {
      const index = (this.#current + i) % n;
      const base = this.options.baseUrls[index]!;
      try {
        const res = await this.#once(base, method, path, body);
        this.#current = index;
        return res;
      } catch (err) {
        errors.push(`${base}: ${(err as Error).message}`);
      }
    }
    throw new ConnectError(`cannot reach the Pulsar web service (${this.options.source}): ${errors.join("; ")}; check that the broker runs and its web service (admin REST + WebSocket) listens there`);
  }

  /** Like call(), with 401/403 turned into AuthError / PermissionError naming `what`, and other failures into `fail`. */
  async expect(method: string, path: string, ok: readonly number[], what: string, body?: unknown): Promise<RestResponse> {
    const res = await this.call(method, path, body);
    if (ok.includes(res.status)) return res;
    throw statusError(res.status, reasonOf(res), what);
  }

  #once(base: string, method: string, path: string, body: unknown): Promise<RestResponse> {
    const url = new URL(path, base);
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.options.token !== undefined) headers["authorization"] = `Bearer ${this.options.token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = JSON.stringify(body);
      headers["content-type"] = "application/json";
      headers["content-length"] = String(Buffer.byteLength(payload));
    }
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { method, headers, timeout: this.options.timeoutMs, ...(this.options.ca !== undefined ? { ca: this.options.ca } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const buf = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: buf,
            text: () => buf.toString("utf8"),
            json: <T>() => JSON.parse(buf.toString("utf8")) as T,
          });
        });
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.options.timeoutMs} ms`)));
      req.on("error", reject);
      req.end(payload);
    });
  }
}

/** The broker's `{"reason": "..."}`, or the start of the body. */
export function reasonOf(res: RestResponse): string {
  const text = res.text();
  try {
    const r = (JSON.parse(text) as { reason?: unknown }).reason;
    if (typeof r === "string") return r;
  } catch {
    // not JSON: an HTML error page from Jetty
  }
  return text.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim().slice(0, 300);
}

/**
 * 401: the broker did not accept the token (missing, expired, wrong key);
 * 403: it did, but the role has no grant for this. Messages never carry the token.
 */
export function statusError(status: number, reason: string, what: string): Error {
  if (status === 401) return new AuthError(`the Pulsar broker refused the credentials for ${what} (HTTP 401): check PULSAR_JWT_TOKEN (missing, expired, or signed with another key)`);
  if (status === 403) return new PermissionError(`the token's role may not use ${what} (HTTP 403${reason ? `: ${reason}` : ""}); grant it with pulsar-admin (topics grant-permission / namespaces grant-permission)`);
  return new ConnectError(`the Pulsar broker refused ${what} (HTTP ${status}${reason ? `: ${reason}` : ""})`);
}
