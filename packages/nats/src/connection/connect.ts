import { createHash } from "node:crypto";
import type { BusOptions } from "../config/options.js";
import { resolveConfig, type ResolvedConfig } from "../config/resolve.js";
import { ConfigError } from "../errors.js";
import { Bus } from "./bus.js";
import type { NatsTransport } from "../transport/nats-transport.js";

let shared: { readonly key: string; readonly bus: Promise<Bus> } | undefined;

/** Identifies what a config connects to and as whom; secrets enter only as a hash. */
function fingerprint(c: ResolvedConfig): string {
  const a = c.auth;
  const secret =
    a.method === "token" ? a.token
    : a.method === "user-password" ? `${a.user}\0${a.password}`
    : a.method === "nkey" ? Buffer.from(a.seed).toString()
    : a.method === "jwt" ? `${a.jwt}\0${Buffer.from(a.seed).toString()}`
    : a.method === "creds" ? Buffer.from(a.creds).toString()
    : "";
  return JSON.stringify([c.servers, c.tls ?? null, a.method, createHash("sha256").update(secret).digest("hex"), c.subjectPrefix, c.inboxPrefix ?? null, c.jetstreamApi, c.name]);
}

/**
 * The process's shared bus: the first call connects, later calls get the same
 * connection (services should not open one connection per producer).
 * `connect()` without options returns the shared bus however it was made;
 * with options that resolve to a different server, identity, prefix, inbox
 * prefix or JetStream domain it throws, since silently handing back the
 * other connection would be wrong.
 * Use `openBus()` for a separate connection.
 */
export async function connect(options?: BusOptions): Promise<Bus> {
  if (shared !== undefined) {
    const bus = await shared.bus.catch(() => undefined);
    if (bus !== undefined && !bus.closed) {
      if (options !== undefined && fingerprint(resolveConfig(options)) !== shared.key) {
        throw new ConfigError(
          "connect()",
          "the shared bus is already connected with different servers, credentials, prefix, inbox prefix or JetStream domain; call openBus() for a separate connection",
        );
      }
      return bus;
    }
    shared = undefined;
  }
  const config = resolveConfig(options);
  const entry = { key: fingerprint(config), bus: Bus.open(config, options ?? {}) };
  shared = entry;
  entry.bus.catch(() => {
    if (shared === entry) shared = undefined;
  });
  return entry.bus;
}

/** A dedicated connection, separate from the shared one (tests, isolation between tenants). */
export async function openBus(options?: BusOptions): Promise<Bus> {
  const config = resolveConfig(options);
  return Bus.open(config, options ?? {});
}

/**
 * The NATS side of `@cozebus/core`'s `connect()` (COZE_MQ_TYPE=nats): the
 * shared bus, as the port.
 */
export async function openTransport(options: Pick<BusOptions, "env" | "onError"> = {}): Promise<NatsTransport> {
  return (await connect(options.env === undefined && options.onError === undefined ? undefined : options)).transport;
}
