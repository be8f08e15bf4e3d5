import { credsAuthenticator, jwtAuthenticator, nkeyAuthenticator, type ConnectionOptions } from "@nats-io/transport-node";
import type { ResolvedConfig } from "../config/resolve.js";

/** Translates a validated config into nats.js connection options. */
export function clientOptions(c: ResolvedConfig): ConnectionOptions {
  const o: ConnectionOptions = {
    servers: [...c.servers],
    name: c.name,
    timeout: c.connectTimeoutMs,
    maxReconnectAttempts: c.reconnect.maxAttempts,
    reconnectTimeWait: c.reconnect.waitMs,
    reconnectJitter: c.reconnect.jitterMs,
    reconnectJitterTLS: c.reconnect.jitterMs,
    // Faster than the 2-minute default at noticing a half-open TCP connection.
    pingInterval: 30_000,
  };
  // Every inbox nats.js makes (requests, JetStream API calls) then lives under it.
  if (c.inboxPrefix !== undefined) o.inboxPrefix = c.inboxPrefix;
  if (c.tls !== undefined) o.tls = { ...c.tls };
  const a = c.auth;
  switch (a.method) {
    case "token":
      o.token = a.token;
      break;
    case "user-password":
      o.user = a.user;
      o.pass = a.password;
      break;
    case "nkey":
      o.authenticator = nkeyAuthenticator(a.seed);
      break;
    case "jwt":
      o.authenticator = jwtAuthenticator(a.jwt, a.seed);
      break;
    case "creds":
      o.authenticator = credsAuthenticator(a.creds);
      break;
    case "none":
      break;
  }
  return o;
}
