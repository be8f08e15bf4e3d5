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
const serverLabel = (ctx: ConsoleContext): string => ctx.source.label;

type Route = (ctx: ConsoleContext, req: Request, res: ServerResponse) => Promise<Reply> | Reply;

const framed = (title: string, active: string, body: (ctx: ConsoleContext, req: Request) => Promise<Html> | Html): Route => async (ctx, req) => page(layout(title, active, await body(ctx, req), serverLabel(ctx)));

const action = (name: "replay" | "delete"): Route => async (ctx, req) => {
  const ids = ctx.confirmations.confirmed(req.form.get("nonce"), name);
  if (ids === undefined) throw unconfirmed(name);
  return page(layout(name === "replay" ? "Replayed" : "Deleted", "/dlq", resultPage(name, await runAction(ctx, name, ids)), serverLabel(ctx)));
};

/** Method and path to page; `/dlq/<seq>` is matched apart. */
const ROUTES: Record<string, Route> = {
  "GET /": () => redirect("/catalog"),
  "GET /catalog": framed("Event catalogue", "/catalog", (ctx) => catalogPage(ctx)),
  "GET /streams": (ctx, req, res) => framed(ctx.source.streamsTitle, "/streams", (c) => streamsPage(c))(ctx, req, res),
  "GET /consumers": framed("Consumers by group", "/consumers", (ctx) => consumersPage(ctx)),
  "GET /dlq": framed("Dead letters", "/dlq", (ctx, req) => dlqListPage(ctx, req.query)),
  "POST /dlq/confirm": framed("Confirm", "/dlq", (ctx, req) => confirmPage(ctx, req.form)),
  "POST /dlq/replay": action("replay"),
  "POST /dlq/delete": action("delete"),
  "GET /tail": framed("Live tail", "/tail", (ctx, req) => tailPage(ctx.source, req.query)),
  "GET /tail/events": async (ctx, req, res) => {
    await tailEvents(ctx, req.query, res);
    return { kind: "handled" };
  },
};

export function route(req: Request): Route {
  const exact = ROUTES[`${req.method} ${req.path}`];
  if (exact !== undefined) return exact;
  const m = /^\/dlq\/([^/]+(?:\/[^/]+)?)$/.exec(req.path);
  if (req.method === "GET" && m !== null && m[1] !== "confirm" && m[1] !== "replay" && m[1] !== "delete") {
    const id = decodeURIComponent(m[1]!);
    return (ctx, r, res) => framed(`Dead letter ${ctx.source.deadLetters.label(id)}`, "/dlq", (c) => dlqDetailPage(c, id))(ctx, r, res);
  }
  const known = Object.keys(ROUTES).some((k) => k.endsWith(` ${req.path}`));
  throw new HttpError(known ? 405 : 404, known ? `${req.method} is not allowed on ${req.path}` : `no page ${req.path}; the console has /catalog, /streams, /consumers, /dlq and /tail`);
}
