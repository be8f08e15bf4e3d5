import { openBus, type Bus, type BusOptions } from "@cozebus/nats";

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
