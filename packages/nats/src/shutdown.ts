import type { Bus } from "./connection/bus.js";
import { describe } from "./errors.js";
import type { Logger } from "./config/options.js";

export interface DrainOnSignalsOptions {
  /** Default SIGTERM and SIGINT. */
  readonly signals?: readonly NodeJS.Signals[];
  /** Longest wait for in-flight handlers (default 30 s; keep it under the orchestrator's grace period). */
  readonly timeoutMs?: number;
  /** Exit the process after draining (default true): 0 when clean, 1 when handlers were cut off. */
  readonly exit?: boolean;
  readonly logger?: Logger;
}

/**
 * On SIGTERM/SIGINT: stop taking messages, let in-flight handlers finish,
 * flush, close, exit. A second signal exits at once. Returns a function that
 * removes the signal handlers.
 */
export function drainOnSignals(bus: Bus, options: DrainOnSignalsOptions = {}): () => void {
  const signals = options.signals ?? ["SIGTERM", "SIGINT"];
  const log = options.logger ?? console;
  const exit = options.exit ?? true;
  let draining = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (draining) {
      log.warn(`[cozebus] second ${signal}: exiting without waiting`);
      process.exit(130);
    }
    draining = true;
    log.info(`[cozebus] ${signal}: draining (up to ${options.timeoutMs ?? 30_000} ms for in-flight handlers)`);
    bus.drain(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}).then(
      () => {
        log.info("[cozebus] drained; bye");
        if (exit) process.exit(0);
      },
      (err: unknown) => {
        log.error(`[cozebus] drain incomplete: ${describe(err)}`);
        if (exit) process.exit(1);
      },
    );
  };
  for (const s of signals) process.on(s, onSignal);
  return () => {
    for (const s of signals) process.off(s, onSignal);
  };
}
