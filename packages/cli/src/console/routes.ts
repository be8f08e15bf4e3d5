import type { ServerResponse } from "node:http";
import { layout, type Html } from "./html.js";
import type { ConsoleContext } from "./context.js";
import { HttpError, page, redirect, type Reply, type Request } from "./http.js";
import { runAction } from "./dlq-actions.js";
import { catalogPage } from "./pages/catalog.js";
import { consumersPage } from "./pages/consumers.js";
import { confirmPage, resultPage, unconfirmed } from "./pages/dlq-confirm.js";
import { dlqDetailPage, dlqListPage } from "./pages/dlq.js";
import { streamsPage } from "./pages/streams.js";
import { tailEvents, tailPage } from "./pages/tail.js";

/** Which server the console shows, in the header of every page. */
function serverLabel(ctx: ConsoleContext): string {
  const s = ctx.bus.server;
  return `nats-server ${s.version} ${s.name}${s.cluster !== undefined ? ` (cluster ${s.cluster})` : ""}`;
}

type Route = (ctx: ConsoleContext, req: Request, res: ServerResponse) => Promise<Reply> | Reply;

const framed = (title: string, active: string, body: (ctx: ConsoleContext, req: Request) => Promise<Html> | Html): Route => async (ctx, req) => page(layout(title, active, await body(ctx, req), serverLabel(ctx)));

const action = (name: "replay" | "delete"): Route => async (ctx, req) => {
  const seqs = ctx.confirmations.confirmed(req.form.get("nonce"), name);
  if (seqs === undefined) throw unconfirmed(name);
  return page(layout(name === "replay" ? "Replayed" : "Deleted", "/dlq", resultPage(name, await runAction(ctx, name, seqs)), serverLabel(ctx)));
};

/** Method and path to page; `/dlq/<seq>` is matched apart. */
const ROUTES: Record<string, Route> = {
  "GET /": () => redirect("/catalog"),
  "GET /catalog": framed("Event catalogue", "/catalog", (ctx) => catalogPage(ctx)),
  "GET /streams": framed("Streams", "/streams", (ctx) => streamsPage(ctx)),
  "GET /consumers": framed("Consumers by group", "/consumers", (ctx) => consumersPage(ctx)),
  "GET /dlq": framed("Dead letters", "/dlq", (ctx, req) => dlqListPage(ctx, req.query)),
  "POST /dlq/confirm": framed("Confirm", "/dlq", (ctx, req) => confirmPage(ctx, req.form)),
  "POST /dlq/replay": action("replay"),
  "POST /dlq/delete": action("delete"),
  "GET /tail": framed("Live tail", "/tail", (_ctx, req) => tailPage(req.query)),
  "GET /tail/events": async (ctx, req, res) => {
    await tailEvents(ctx, req.query, res);
    return { kind: "handled" };
  },
};

export function route(req: Request): Route {
  const exact = ROUTES[`${req.method} ${req.path}`];
  if (exact !== undefined) return exact;
  const m = /^\/dlq\/(\d+)$/.exec(req.path);
  if (req.method === "GET" && m !== null) return framed(`Dead letter #${m[1]}`, "/dlq", (ctx) => dlqDetailPage(ctx, Number(m[1])));
  const known = Object.keys(ROUTES).some((k) => k.endsWith(` ${req.path}`));
  throw new HttpError(known ? 405 : 404, known ? `${req.method} is not allowed on ${req.path}` : `no page ${req.path}; the console has /catalog, /streams, /consumers, /dlq and /tail`);
}
