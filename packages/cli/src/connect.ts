import { openBus, type Bus, type BusOptions } from "@cozebus/nats";
import { startNatsServer, type NatsServer } from "@cozebus/testing";

export interface GlobalFlags {
  readonly server?: string;
  readonly json: boolean;
}

/** The options a CLI connection uses: NATS_* variables like a service, `--server` winning over NATS_SERVER_URL, logs on stderr. */
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
  const local = await startNatsServer();
  say(`no NATS_SERVER_URL: ${purpose} a local nats-server ${local.version} with JetStream at ${local.url}`);
  return { flags: { ...flags, server: local.url }, local };
}
