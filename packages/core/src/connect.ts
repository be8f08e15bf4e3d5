import { ConfigError, describe } from "./errors.js";
import type { Transport } from "./port/transport.js";

/** The transports `COZE_MQ_TYPE` names, and the package that implements each. */
export const TRANSPORT_PACKAGES = { nats: "@cozebus/nats", pulsar: "@cozebus/pulsar" } as const;
export type TransportName = keyof typeof TRANSPORT_PACKAGES;

export interface ConnectOptions {
  /** Overrides COZE_MQ_TYPE (default `nats`, as in the seed's factory). */
  readonly type?: TransportName;
  /** Environment to read (default `process.env`); the chosen transport reads its own variables from it. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where failures nobody awaits are reported (default: the transport's logger). */
  readonly onError?: (error: Error) => void;
}

/** What a transport package exports for `connect()`. */
interface TransportModule {
  openTransport(options: { readonly env?: Readonly<Record<string, string | undefined>>; readonly onError?: (error: Error) => void }): Promise<Transport>;
}

/** COZE_MQ_TYPE, validated: which transport this process uses. */
export function transportName(options: Pick<ConnectOptions, "type" | "env"> = {}): TransportName {
  if (options.type !== undefined) return options.type;
  const raw = (options.env ?? process.env)["COZE_MQ_TYPE"]?.trim();
  if (raw === undefined || raw === "") return "nats";
  const name = raw.toLowerCase();
  if (name in TRANSPORT_PACKAGES) return name as TransportName;
  throw new ConfigError("COZE_MQ_TYPE", `is ${JSON.stringify(raw)}; cozebus speaks ${Object.keys(TRANSPORT_PACKAGES).map((n) => JSON.stringify(n)).join(" and ")} (unset means "nats")`);
}

/**
 * Connects the transport COZE_MQ_TYPE names (`nats` by default, `pulsar`),
 * configured from its own variables (NATS_SERVER_URL / MQ_NAME_SERVER,
 * PULSAR_JWT_TOKEN, ...). The transport package is loaded only when chosen,
 * so a service installs just the one it uses; the typed domain packages run
 * on either: `workflow(await connect()).executionStarted.publish(...)`.
 */
export async function connect(options: ConnectOptions = {}): Promise<Transport> {
  const name = transportName(options);
  const pkg = TRANSPORT_PACKAGES[name];
  let mod: TransportModule;
  try {
    mod = (await import(pkg)) as TransportModule;
  } catch (err) {
    throw new ConfigError("COZE_MQ_TYPE", `is ${JSON.stringify(name)}, but ${pkg} cannot be loaded (${describe(err)}): install it with "npm i ${pkg}"`, { cause: err });
  }
  return mod.openTransport({ ...(options.env !== undefined ? { env: options.env } : {}), ...(options.onError !== undefined ? { onError: options.onError } : {}) });
}
