import { transportName, type Transport, type TransportName } from "@cozebus/core";
import { openBus, resolveConfig, type Bus, type BusOptions } from "@cozebus/nats";
import { connectPulsar, type PulsarOptions, type PulsarTransport } from "@cozebus/pulsar";
import { usageError } from "./errors.js";
import { startNatsServer, startPulsar, type NatsServer, type PulsarBroker } from "@cozebus/testing";

export type MqType = TransportName;

export interface GlobalFlags {
  readonly server?: string;
  readonly json: boolean;
  /** --mq-type: wins over COZE_MQ_TYPE. */
  readonly mqType?: MqType;
}

/** The transport this run speaks: --mq-type, else COZE_MQ_TYPE (validated: a bad value is a ConfigError naming it, exit 2), else nats. */
export function mqTypeOf(flags: Pick<GlobalFlags, "mqType">): MqType {
  return flags.mqType ?? transportName();
}

/** Where the choice of Pulsar came from, for messages. */
const pulsarChosenBy = (flags: Pick<GlobalFlags, "mqType">): string => (flags.mqType !== undefined ? "--mq-type pulsar" : "COZE_MQ_TYPE=pulsar");

/**
 * For commands and options that only NATS has (JetStream streams,
 * request/reply): a usage error (exit 2, nothing sent) on Pulsar, naming
 * COZE_MQ_TYPE, instead of a crash or a silent no-op.
 */
export function requireNats(flags: Pick<GlobalFlags, "mqType">, what: string, instead?: string): void {
  if (mqTypeOf(flags) !== "pulsar") return;
  throw usageError(`${what} is NATS-only, and ${pulsarChosenBy(flags)} selects the Pulsar transport${instead !== undefined ? `; ${instead}` : ""}; set COZE_MQ_TYPE=nats (or --mq-type nats) to use it`);
}

const log = (m: string): void => void process.stderr.write(`${m}\n`);

/**
 * The options a CLI connection uses: NATS_* variables like a service
 * (NATS_INBOX_PREFIX, NATS_JS_DOMAIN and NATS_JS_API_PREFIX included),
 * `--server` winning over NATS_SERVER_URL, logs on stderr.
 */
export function busOptions(flags: GlobalFlags): BusOptions {
  return {
    ...(flags.server !== undefined ? { servers: flags.server } : {}),
    name: "cozebus-cli",
    connectTimeoutMs: 5000,
    reconnect: { maxAttempts: 0 },
    logger: { info: () => undefined, warn: log, error: log },
  };
}

export function connectBus(flags: GlobalFlags): Promise<Bus> {
  return openBus(busOptions(flags));
}

/**
 * The options a CLI Pulsar connection uses: the PULSAR_* variables and
 * MQ_NAME_SERVER like a service; `--server` wins over them (an `http(s)://`
 * URL is the web service, anything else a `pulsar://` service URL); errors
 * nobody awaits go to stderr. The environment is read with COZE_MQ_TYPE
 * set to pulsar, so `--mq-type pulsar` works whatever COZE_MQ_TYPE says.
 */
export function pulsarOptions(flags: GlobalFlags): PulsarOptions {
  const server = flags.server;
  return {
    env: { ...process.env, COZE_MQ_TYPE: "pulsar" },
    ...(server !== undefined ? (/^https?:\/\//i.test(server) ? { webServiceUrl: server } : { serviceUrl: server }) : {}),
    requestTimeoutMs: 5000,
    onError: (e) => log(`cozebus: ${e.message}`),
  };
}

export function connectPulsarCli(flags: GlobalFlags): Promise<PulsarTransport> {
  return connectPulsar(pulsarOptions(flags));
}

/** A connection on the chosen transport, for the commands that only need the port (pub, sub). */
export interface Connection {
  readonly type: MqType;
  readonly transport: Transport;
  /** Set on Pulsar (its admin API, dead letters, ...). */
  readonly pulsar: PulsarTransport | undefined;
  /** Set on NATS. */
  readonly bus: Bus | undefined;
  /** Lets in-flight work finish, then closes; never throws. */
  close(): Promise<void>;
}

export async function connectTransport(flags: GlobalFlags): Promise<Connection> {
  if (mqTypeOf(flags) === "pulsar") {
    const pulsar = await connectPulsarCli(flags);
    return { type: "pulsar", transport: pulsar, pulsar, bus: undefined, close: () => pulsar.drain().catch(() => undefined) };
  }
  const bus = await connectBus(flags);
  return { type: "nats", transport: bus.transport, pulsar: undefined, bus, close: () => bus.drain().catch(() => undefined) };
}

/**
 * For commands that work without any setup (demo, bench): the configured
 * server (`--server`, NATS_SERVER_URL or MQ_NAME_SERVER), or else a throwaway
 * local nats-server with JetStream, which the caller stops. The local one is
 * chosen exactly as the tests choose theirs (@cozebus/testing): NATS_SERVER_BIN,
 * COZEBUS_NATS_VERSION, else 2.12.15, built with go install on first use, so
 * no nats-server needs to be installed (progress goes to stderr).
 */
export async function configuredOrLocalServer<F extends GlobalFlags>(flags: F, say: (m: string) => void, purpose: string): Promise<{ flags: F; local: NatsServer | undefined }> {
  const configured = flags.server ?? process.env["NATS_SERVER_URL"] ?? process.env["MQ_NAME_SERVER"];
  if (configured !== undefined && configured !== "") return { flags, local: undefined };
  // The local server must be where the configuration looks for JetStream: in NATS_JS_DOMAIN's domain when one is set.
  const api = resolveConfig(busOptions(flags)).jetstreamApi;
  if (api.kind === "api-prefix") {
    throw usageError(`${api.from} is set but no server is: a local nats-server cannot provide an imported JetStream API; set NATS_SERVER_URL (or --server), or unset ${api.from}`);
  }
  const local = await startNatsServer(api.kind === "domain" ? { jetstreamDomain: api.domain } : {});
  say(`no NATS_SERVER_URL: ${purpose} a local nats-server ${local.version} with JetStream${api.kind === "domain" ? ` in domain ${api.domain}` : ""} at ${local.url}`);
  return { flags: { ...flags, server: local.url }, local };
}

/**
 * The Pulsar side of configuredOrLocalServer: the configured broker
 * (`--server`, MQ_NAME_SERVER or PULSAR_WEB_SERVICE_URL), or else a
 * throwaway Pulsar standalone from @cozebus/testing (resolved from Maven
 * Central on first use, ~40 s, then ~8 s to start; needs java 17+), which
 * the caller stops. Progress goes to stderr.
 */
export async function configuredOrLocalPulsar<F extends GlobalFlags>(flags: F, purpose: string, options: { readonly jvmArgs?: readonly string[] } = {}): Promise<{ flags: F; local: PulsarBroker | undefined }> {
  const configured = flags.server ?? process.env["MQ_NAME_SERVER"] ?? process.env["PULSAR_WEB_SERVICE_URL"];
  if (configured !== undefined && configured !== "") return { flags, local: undefined };
  if ((process.env["PULSAR_JWT_TOKEN"] ?? "") !== "") {
    throw usageError("PULSAR_JWT_TOKEN is set but no broker is: a local Pulsar would not know that token; set MQ_NAME_SERVER (or --server), or unset PULSAR_JWT_TOKEN");
  }
  log(`no MQ_NAME_SERVER: starting a local Pulsar standalone (first run resolves it from Maven Central, ~40 s; then ~8 s)...`);
  const t0 = Date.now();
  const local = await startPulsar({ onProgress: log, ...(options.jvmArgs !== undefined ? { jvmArgs: options.jvmArgs } : {}) });
  log(`${purpose} a local Pulsar ${local.version} at ${local.serviceUrl} (web service ${local.webServiceUrl}), up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { flags: { ...flags, server: local.webServiceUrl }, local };
}
