import { HandlerError, failureKind } from "../errors.js";
import type { Delivery, DeliveryHandler, Outcome, QualityOfService } from "../port/transport.js";
import { ACK, outcomeOfFailure } from "../policy/outcome.js";
import type { RetryPolicy } from "../policy/retry-policy.js";

/**
 * Wraps a handler that returns or throws into the port's handler that
 * returns an outcome: the one place, for every transport, where a failure is
 * reported and becomes a retry or a dead letter. At most once, nothing can
 * be redelivered: the failure is reported and the event is gone (acked).
 */
export function settling(run: (d: Delivery) => void | Promise<void>, qos: QualityOfService, policy: RetryPolicy, report: (err: Error) => void): DeliveryHandler {
  const failed = (d: Delivery, err: unknown): Outcome => {
    report(failureKind(err) === "unknown-event" ? (err as Error) : new HandlerError(d.subject, err));
    return qos === "at-least-once" ? outcomeOfFailure(err, d.attempt, policy) : ACK;
  };
  return async (d) => {
    try {
      await run(d);
      return ACK;
    } catch (err) {
      return failed(d, err);
    }
  };
}
