import { ConfigError } from "../errors.js";

export interface BackoffPolicy {
  /** Delay before the first redelivery (default 1000 ms). */
  readonly initialMs: number;
  /** Longest delay (default 60 s). */
  readonly maxMs: number;
  /** Growth per attempt (default 2). */
  readonly multiplier: number;
  /** Random spread as a fraction of the delay, 0 to 1 (default 0.2): instances that failed together do not retry together. */
  readonly jitter: number;
}

export interface RetryPolicy {
  /** Deliveries before an event is dead-lettered (default 5, at least 1). */
  readonly maxDeliveries: number;
  readonly backoff: BackoffPolicy;
  /** Time the server waits for an ack before redelivering (default 30 s). Long handlers are kept alive by heartbeats. */
  readonly ackWaitMs: number;
}

export interface RetryPolicyInput {
  readonly maxDeliveries?: number;
  readonly backoff?: Partial<BackoffPolicy>;
  readonly ackWaitMs?: number;
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  maxDeliveries: 5,
  backoff: Object.freeze({ initialMs: 1000, maxMs: 60_000, multiplier: 2, jitter: 0.2 }),
  ackWaitMs: 30_000,
});

export function retryPolicy(input: RetryPolicyInput = {}): RetryPolicy {
  const p: RetryPolicy = {
    maxDeliveries: input.maxDeliveries ?? DEFAULT_RETRY.maxDeliveries,
    backoff: { ...DEFAULT_RETRY.backoff, ...input.backoff },
    ackWaitMs: input.ackWaitMs ?? DEFAULT_RETRY.ackWaitMs,
  };
  const int = (name: string, v: number, min: number): void => {
    if (!Number.isInteger(v) || v < min) throw new ConfigError(`retry.${name}`, `expected an integer >= ${min}, got ${v}`);
  };
  int("maxDeliveries", p.maxDeliveries, 1);
  int("ackWaitMs", p.ackWaitMs, 100);
  int("backoff.initialMs", p.backoff.initialMs, 0);
  int("backoff.maxMs", p.backoff.maxMs, p.backoff.initialMs);
  if (!(p.backoff.multiplier >= 1)) throw new ConfigError("retry.backoff.multiplier", `expected a number >= 1, got ${p.backoff.multiplier}`);
  if (!(p.backoff.jitter >= 0 && p.backoff.jitter <= 1)) throw new ConfigError("retry.backoff.jitter", `expected a number from 0 to 1, got ${p.backoff.jitter}`);
  return p;
}

/**
 * Delay before redelivering after failed delivery number `attempt` (1-based):
 * exponential, capped, then spread by jitter downwards only, so the cap is
 * a real upper bound. Random is injectable for tests.
 */
export function backoffDelay(b: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const raw = Math.min(b.maxMs, b.initialMs * b.multiplier ** Math.max(0, attempt - 1));
  return Math.round(raw * (1 - b.jitter * random()));
}
