import {
  ClosedConnectionError,
  DrainingConnectionError,
  NoRespondersError as NatsNoResponders,
  TimeoutError as NatsTimeout,
  headers as natsHeaders,
  type Msg,
  type NatsConnection,
} from "@nats-io/transport-node";
import { explainPermission, permissionViolation } from "../connection/routing.js";
import { ConnectionClosedError, NoRespondersError, RemoteError, RequestTimeoutError, ServiceError, describe } from "../errors.js";
import { Inbound, type InboundMessage } from "./inbound.js";

/**
 * Error reply headers. They are the ones the NATS services framework uses,
 * so a cozebus requester understands errors from any NATS micro-service and
 * vice versa.
 */
export const SERVICE_ERROR = "Nats-Service-Error";
export const SERVICE_ERROR_CODE = "Nats-Service-Error-Code";

/** Sends a request and maps every failure to a typed cozebus error. */
export async function sendRequest(
  nc: NatsConnection,
  subject: string,
  data: Uint8Array,
  headers: ReturnType<typeof natsHeaders>,
  timeoutMs: number,
  /** The connection's inbox prefix, to explain a refused reply inbox by the setting that fixes it. */
  inboxPrefix?: string,
): Promise<InboundMessage> {
  let reply: Msg;
  try {
    reply = await nc.request(subject, data, { timeout: timeoutMs, headers });
  } catch (err) {
    // nats.js wraps the reason in a RequestError's cause.
    const is = (cls: abstract new (...a: never[]) => Error): boolean => err instanceof cls || (err as Error).cause instanceof cls;
    if (is(NatsNoResponders)) throw new NoRespondersError(subject, { cause: err });
    if (is(NatsTimeout)) throw new RequestTimeoutError(subject, timeoutMs, { cause: err });
    if (is(ClosedConnectionError) || is(DrainingConnectionError)) throw new ConnectionClosedError(`request to "${subject}" not sent`);
    const pv = permissionViolation(err);
    if (pv !== undefined) throw explainPermission(pv, { inboxPrefix }, `request to "${subject}" failed`);
    throw err;
  }
  const h = reply.headers;
  if (h !== undefined && h.has(SERVICE_ERROR)) {
    const code = Number(h.get(SERVICE_ERROR_CODE));
    throw new RemoteError(subject, Number.isInteger(code) && code > 0 ? code : 500, h.get(SERVICE_ERROR));
  }
  return new Inbound(reply);
}

/** What a serve handler returns: the reply bytes, optionally with headers. */
export type Reply = Uint8Array | { readonly data: Uint8Array; readonly headers?: Readonly<Record<string, string>> };

/** Answers a request with the handler's reply, or with error headers when it threw. */
export async function answer(msg: Msg, handler: (req: InboundMessage) => Reply | Promise<Reply>): Promise<void> {
  let reply: Reply;
  try {
    reply = await handler(new Inbound(msg));
  } catch (err) {
    const h = natsHeaders();
    h.set(SERVICE_ERROR, describe(err).replace(/[\r\n]+/g, " "));
    h.set(SERVICE_ERROR_CODE, String(err instanceof ServiceError ? err.status : 500));
    msg.respond(new Uint8Array(0), { headers: h });
    throw err; // still reported to the error hook on this side
  }
  if (reply instanceof Uint8Array) {
    msg.respond(reply);
    return;
  }
  let h: ReturnType<typeof natsHeaders> | undefined;
  if (reply.headers) {
    h = natsHeaders();
    for (const [k, v] of Object.entries(reply.headers)) h.set(k, v);
  }
  msg.respond(reply.data, h ? { headers: h } : undefined);
}
