import { failureKind } from "../errors.js";
import type { DeadLetterReason, Outcome } from "../port/transport.js";
import { retryDelayOf } from "../errors.js";
import { backoffDelay, type RetryPolicy } from "./retry-policy.js";

export const ACK: Outcome = Object.freeze({ type: "ack" });

/**
 * The one place a handler's failure becomes an outcome, for every transport:
 * a DecodeError or NonRetryableError is dead-lettered at once; an event this
 * build cannot name is handed back (another instance may know it) until the
 * last delivery, then dead-lettered as "unknown-event"; anything else is
 * retried with the policy's backoff (or a RetryableError's own delay) until
 * the last allowed delivery, then dead-lettered as "max-deliveries".
 */
export function outcomeOfFailure(err: unknown, attempt: number, policy: RetryPolicy, random?: () => number): Outcome {
  const kind = failureKind(err);
  if (kind === "undecodable" || kind === "non-retryable") return { type: "dead-letter", reason: kind, error: err };
  if (attempt >= policy.maxDeliveries) {
    const reason: DeadLetterReason = kind === "unknown-event" ? "unknown-event" : "max-deliveries";
    return { type: "dead-letter", reason, error: err };
  }
  return { type: "retry", delayMs: retryDelayOf(err) ?? backoffDelay(policy.backoff, attempt, random), error: err };
}
