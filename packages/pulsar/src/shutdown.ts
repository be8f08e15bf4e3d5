import { DrainTimeoutError, describe, type Transport } from "@cozebus/core/transport";

export interface DrainOnSignalsOptions {
  /** Default SIGTERM and SIGINT. */
  readonly signals?: readonly NodeJS.Signals[];
  /** Longest wait for in-flight handlers and receipts (default 30 s; keep it under the orchestrator's grace period). */
  readonly timeoutMs?: number;
  /** Exit the process after draining (default true): 0 when clean, 1 when cut off. */
  readonly exit?: boolean;
  readonly log?: (line: string) => void;
}

/**
 * On SIGTERM/SIGINT: stop taking events, let in-flight handlers finish and
 * carry out their outcomes, wait for outstanding receipts, close the
 * sockets, exit. A second signal exits at once. What was not handled stays
 * unacked and goes to another instance. Returns a function removing the handlers.
 */
export function drainOnSignals(transport: Transport, options: DrainOnSignalsOptions = {}): () => void {
  const signals = options.signals ?? ["SIGTERM", "SIGINT"];
  const log = options.log ?? ((l: string) => console.error(l));
  const exit = options.exit ?? true;
  const timeoutMs = options.timeoutMs ?? 30_000;
  let draining = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (draining) {
      log(`[cozebus/pulsar] second ${signal}: exiting without waiting`);
      process.exit(130);
    }
    draining = true;
    log(`[cozebus/pulsar] ${signal}: draining (up to ${timeoutMs} ms)`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DrainTimeoutError(timeoutMs, -1)), timeoutMs);
    });
    Promise.race([transport.drain(), timeout]).then(
      () => {
        clearTimeout(timer);
        log("[cozebus/pulsar] drained; bye");
        if (exit) process.exit(0);
      },
      (err: unknown) => {
        clearTimeout(timer);
        log(`[cozebus/pulsar] drain incomplete: ${describe(err)}`);
        if (exit) process.exit(1);
      },
    );
  };
  for (const s of signals) process.on(s, onSignal);
  return () => {
    for (const s of signals) process.off(s, onSignal);
  };
}
