import { openBus, type Bus } from "@cozebus/nats";

export interface GlobalFlags {
  readonly server?: string;
  readonly json: boolean;
}

/** Connects like a service does (NATS_* variables), with `--server` winning over NATS_SERVER_URL. Logs go to stderr. */
export function connectBus(flags: GlobalFlags): Promise<Bus> {
  const log = (m: string): void => void process.stderr.write(`${m}\n`);
  return openBus({
    ...(flags.server !== undefined ? { servers: flags.server } : {}),
    name: "cozebus-cli",
    connectTimeoutMs: 5000,
    reconnect: { maxAttempts: 0 },
    logger: { info: () => undefined, warn: log, error: log },
  });
}
