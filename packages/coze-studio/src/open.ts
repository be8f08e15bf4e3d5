/**
 * Joining whichever bus the deployment runs: COZE_MQ_TYPE picks NATS
 * (`nats`, or unset) or Pulsar (`pulsar`), exactly as Coze's Go code picks
 * its implementation (impl/eventbus.go). Each transport package is loaded
 * only when chosen.
 */
import type { BusOptions } from "@cozebus/nats";
import type { CozeStudioBus } from "./api.js";
import { cozeStudioBusOptions, mqTypeFromEnv, type Env } from "./config.js";
import type { CozeStudioPulsarOptions } from "./pulsar/client.js";

export interface OpenCozeStudioOptions {
  /** The deployment's environment (default process.env). */
  readonly env?: Env;
  /** Failures, drops and dead letters of consumers registered on it. */
  readonly onError?: (error: Error) => void;
  /** NATS: more bus options (the environment still decides the address and mode). */
  readonly nats?: Omit<BusOptions, "env">;
  /** Pulsar: more options (see cozeStudioPulsar). */
  readonly pulsar?: Omit<NonNullable<CozeStudioPulsarOptions["pulsar"]>, "env">;
  /** `ce-source` of what it sends on Pulsar. */
  readonly source?: string;
}

/** A joined bus; `close()` also closes the connection it opened. */
export type OpenedCozeStudio = CozeStudioBus;

export async function openCozeStudio(options: OpenCozeStudioOptions = {}): Promise<OpenedCozeStudio> {
  const env = options.env ?? process.env;
  if (mqTypeFromEnv(env) === "pulsar") {
    const { cozeStudioPulsar } = await import("./pulsar/client.js");
    return cozeStudioPulsar({
      pulsar: { ...options.pulsar, env },
      ...(options.onError !== undefined ? { onError: options.onError } : {}),
      ...(options.source !== undefined ? { source: options.source } : {}),
    });
  }
  const { openBus } = await import("@cozebus/nats");
  const { cozeStudio } = await import("./nats/client.js");
  const bus = await openBus(cozeStudioBusOptions({ ...options.nats, env, ...(options.onError !== undefined ? { onError: options.onError } : {}) }));
  const coze = cozeStudio(bus, { env, ...(options.onError !== undefined ? { onError: options.onError } : {}) });
  const close = coze.close.bind(coze);
  return Object.assign(coze, {
    close: async () => {
      await close();
      await bus.drain();
    },
  });
}
