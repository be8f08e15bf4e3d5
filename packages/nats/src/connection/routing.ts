import type { JetStreamOptions } from "@nats-io/jetstream";
import { PermissionViolationError, createInbox, type NatsConnection } from "@nats-io/transport-node";
import type { JetStreamApiConfig } from "../config/resolve.js";
import { PermissionError } from "../errors.js";

/**
 * Where a connection's replies and JetStream API requests go: the inbox
 * prefix (for users allowed only their own, e.g. `_INBOX_svc.>`) and the
 * JetStream API prefix (`$JS.API`, or a domain's or an import's).
 */
export interface Routing {
  /** Prefix of the inboxes this connection creates; undefined: nats.js's default. */
  readonly inboxPrefix: string | undefined;
  /** The configured JetStream API: default, a domain, or an API prefix. */
  readonly api: JetStreamApiConfig;
  /** The JetStream API subject prefix, as nats.js derived it from `api`. */
  readonly apiPrefix: string;
}

/** The configured JetStream domain, if any; max-deliveries advisories name the domain they come from. */
export function domainOf(routing: Pick<Routing, "api">): string | undefined {
  return routing.api.kind === "domain" ? routing.api.domain : undefined;
}

/** Why nothing answered on the JetStream API, and what to check, in terms of the setting in use. */
export function jetstreamNotAnswering(routing: Pick<Routing, "api" | "apiPrefix">): string {
  const api = routing.api;
  switch (api.kind) {
    case "domain":
      return `no JetStream answered in domain "${api.domain}" (${api.from}; API ${routing.apiPrefix}): check that it is the domain in the JetStream server's jetstream { domain: ... }, and that the server this client is on reaches it (a leaf node needs a leafnodes remote to it)`;
    case "api-prefix":
      return `nothing answered on the JetStream API prefix ${routing.apiPrefix} (${api.from}): check the account import that provides it, or unset the variable to use this account's own JetStream`;
    case "default":
      return "JetStream is not enabled on this server or account: start nats-server with -js (or a jetstream {} block), enable it for the account, or set NATS_JS_DOMAIN when JetStream runs in another domain (behind a leaf node), NATS_JS_API_PREFIX when it is imported from another account";
  }
}

/** nats.js JetStream options for a configuration: nats.js derives the API prefix from a domain itself. */
export function jetstreamOptions(api: JetStreamApiConfig): JetStreamOptions {
  switch (api.kind) {
    case "domain":
      return { domain: api.domain };
    case "api-prefix":
      return { apiPrefix: api.apiPrefix };
    case "default":
      return {};
  }
}

/**
 * The routing of each connection that opened its JetStream layer. Pull
 * loops are made by the durable consumer with only the connection in hand;
 * they find the API prefix and inbox prefix here instead of assuming the
 * defaults. A WeakMap: a closed connection takes its entry with it.
 */
const byConnection = new WeakMap<NatsConnection, Routing>();

export function rememberRouting(nc: NatsConnection, routing: Routing): void {
  byConnection.set(nc, routing);
}

export function routingOf(nc: NatsConnection): Routing | undefined {
  return byConnection.get(nc);
}

/** The permission violation behind an error, if that is what it is (nats.js wraps request failures in a RequestError). */
export function permissionViolation(err: unknown): PermissionViolationError | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e instanceof PermissionViolationError) return e;
  }
  return undefined;
}

/** nats.js's own inbox prefix (`_INBOX`), read from nats.js rather than typed again here. */
const DEFAULT_INBOX_PREFIX = createInbox().replace(/\.[^.]+$/, "");

const under = (subject: string, prefix: string): boolean => subject === prefix || subject.startsWith(`${prefix}.`);

/**
 * Explains a refused subscription or publish in terms of the setting that
 * fixes it. The inbox and API subjects are named (they carry no secret);
 * `what` says what cozebus was doing.
 */
export function explainPermission(pv: PermissionViolationError, routing: { readonly inboxPrefix: string | undefined; readonly apiPrefix?: string }, what: string): PermissionError {
  const op = pv.operation === "subscription" ? "subscribe to" : "publish to";
  const refused = `${what}: the server does not let this user ${op} "${pv.subject}"`;
  if (pv.operation === "subscription" && routing.inboxPrefix === undefined && under(pv.subject, DEFAULT_INBOX_PREFIX)) {
    return new PermissionError(`${refused}, its reply inbox; set NATS_INBOX_PREFIX (or options.inboxPrefix) to the inbox prefix this user may subscribe to, e.g. _INBOX_svc for "_INBOX_svc.>"`, { cause: pv });
  }
  if (routing.inboxPrefix !== undefined && under(pv.subject, routing.inboxPrefix)) {
    return new PermissionError(`${refused}, under the inbox prefix ${routing.inboxPrefix} (NATS_INBOX_PREFIX); allow this user to subscribe to "${routing.inboxPrefix}.>" and to publish replies there, or set the prefix it is allowed`, { cause: pv });
  }
  if (routing.apiPrefix !== undefined && under(pv.subject, routing.apiPrefix)) {
    return new PermissionError(`${refused}, the JetStream API under ${routing.apiPrefix}; allow this user to publish to "${routing.apiPrefix}.>", or set NATS_JS_DOMAIN / NATS_JS_API_PREFIX when JetStream is reached through another prefix`, { cause: pv });
  }
  return new PermissionError(`${refused}; check this user's ${pv.operation === "subscription" ? "subscribe" : "publish"} permissions`, { cause: pv });
}
