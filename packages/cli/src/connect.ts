import { openBus, resolveConfig, type Bus, type BusOptions } from "@cozebus/nats";
import { usageError } from "./errors.js";
import { startNatsServer, type NatsServer } from "@cozebus/testing";

export interface GlobalFlags {
  readonly server?: string;
  readonly json: boolean;
}

/**
 * The options a CLI connection uses: NATS_* variables like a service
 * (NATS_INBOX_PREFIX, NATS_JS_DOMAIN and NATS_JS_API_PREFIX included),
 * `--server` winning over NATS_SERVER_URL, logs on stderr.
 */
export function busOptions(flags: GlobalFlags): BusOptions {
  const log = (m: string): void => void process.stderr.write(`${m}\n`);
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
