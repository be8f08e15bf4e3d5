import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { SchemaSet } from "../schemas.js";
import { CSS, JS } from "./assets.js";
import { hostAllowed, presentedToken, TOKEN_COOKIE, tokenMatches } from "./auth.js";
import { Confirmations } from "./confirmations.js";
import type { ConsoleContext } from "./context.js";
import { escapeHtml } from "./html.js";
import { HttpError, readForm, send, type Request } from "./http.js";
import { route } from "./routes.js";
import type { ConsoleSource } from "./source.js";

export interface ConsoleOptions {
  /** The broker behind the pages (NatsSource, PulsarSource); the caller closes it after the server. */
  readonly source: ConsoleSource;
  readonly schemas?: SchemaSet | undefined;
  /** Address to bind; the caller has checked that a non-loopback one comes with a token. */
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  /** Required on every request when set (Bearer header, cookie, or ?token= once). */
  readonly token?: string | undefined;
}

export interface ConsoleServer {
  readonly url: string;
  close(): Promise<void>;
}

function errorPage(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  send(res, status, "text/html; charset=utf-8", `<!doctype html><meta charset="utf-8"><title>${status}</title><link rel="stylesheet" href="/assets/console.css"><main><h1>${status}</h1><p class="bad" id="error">${escapeHtml(message)}</p><p><a href="/">back to the console</a></p></main>`);
}

/** Serves the console until close(); every request is checked for the token (when set) before anything else. */
export async function startConsole(options: ConsoleOptions): Promise<ConsoleServer> {
  let queue: Promise<unknown> = Promise.resolve();
  const ctx: ConsoleContext = {
    source: options.source,
    schemas: options.schemas,
    confirmations: new Confirmations(),
    openTails: new Set(),
    serially: <T>(work: () => Promise<T>): Promise<T> => {
      const run = queue.then(work, work);
      queue = run.catch(() => undefined);
      return run;
    },
  };
  let port = options.port;

  const handle = async (raw: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(raw.url ?? "/", "http://console.invalid");
    if (options.token !== undefined) {
      if (!tokenMatches(presentedToken(raw, url.searchParams), options.token)) {
        send(res, 401, "text/plain; charset=utf-8", "401: this console needs its token: open it with ?token=<token> once (it is kept in a cookie) or send Authorization: Bearer <token> (the --token given to cozebus console, or COZEBUS_CONSOLE_TOKEN)\n", { "www-authenticate": 'Bearer realm="cozebus console"' });
        return;
      }
      if (url.searchParams.has("token")) {
        // Kept in a cookie, so the address bar and the history lose it, and the tail's EventSource carries it.
        url.searchParams.delete("token");
        send(res, 303, "text/plain; charset=utf-8", "", { location: url.pathname + url.search, "set-cookie": `${TOKEN_COOKIE}=${encodeURIComponent(options.token)}; HttpOnly; SameSite=Strict; Path=/` });
        return;
      }
    } else if (!hostAllowed(raw, options.host, port)) {
      send(res, 403, "text/plain; charset=utf-8", `403: Host ${JSON.stringify(raw.headers.host ?? "")} is not this console's address; open http://127.0.0.1:${port}/ (without a token, only loopback names are served, against DNS rebinding)\n`);
      return;
    }
    if (raw.method === "GET" && url.pathname === "/assets/console.css") return send(res, 200, "text/css; charset=utf-8", CSS);
    if (raw.method === "GET" && url.pathname === "/assets/console.js") return send(res, 200, "text/javascript; charset=utf-8", JS);
    const req: Request = { method: raw.method ?? "GET", path: url.pathname, query: url.searchParams, form: await readForm(raw), raw };
    const reply = await route(req)(ctx, req, res);
    if (reply.kind === "redirect") send(res, 303, "text/plain; charset=utf-8", "", { location: reply.to });
    else if (reply.kind === "html") send(res, reply.status ?? 200, "text/html; charset=utf-8", reply.body.text);
  };

  const server = createServer((raw, res) => {
    handle(raw, res).catch((err: unknown) => {
      if (err instanceof HttpError) errorPage(res, err.status, err.message);
      else errorPage(res, 502, `the bus answered with an error: ${(err as Error).message}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const h = options.host;
  // An any-address bind is reached locally at loopback; an IPv6 literal needs brackets in a URL.
  const name = h === "0.0.0.0" ? "127.0.0.1" : h === "::" ? "[::1]" : h.includes(":") ? `[${h}]` : h;
  return {
    url: `http://${name}:${port}/`,
    close: async () => {
      await Promise.all([...ctx.openTails].map((stop) => stop().catch(() => undefined)));
      await new Promise<void>((resolve) => {
        server.closeAllConnections(); // open tails would keep it up for ever
        server.close(() => resolve());
      });
    },
  };
}
