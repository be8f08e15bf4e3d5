import { HandlerError, failureKind } from "../errors.js";
import type { Delivery, DeliveryHandler, Outcome, QualityOfService } from "../port/transport.js";
import { ACK, outcomeOfFailure } from "../policy/outcome.js";
import type { RetryPolicy } from "../policy/retry-policy.js";
import { guard, inboxEventId } from "../inbox/guard.js";
import type { InboxClaim, InboxStore } from "../inbox/store.js";

/** The inbox a subscription guards its handler with (at-least-once events only). */
export interface IdempotencyOptions {
  /** Where handled ids are kept: `PostgresInboxStore` (@cozebus/postgres), `NatsKvInboxStore` (@cozebus/nats). */
  readonly store: InboxStore;
  /** How long a claim holds before another replica may run the id (default 30 s; renewed while the handler runs). */
  readonly leaseMs?: number;
  /** How long a handled id is remembered (default 24 h; at least the stream's duplicate window). */
  readonly retentionMs?: number;
  /** The stream's duplicate window (default 2 min): retention below it is refused. */
  readonly duplicateWindowMs?: number;
}

/** The claim a guarded handler runs under, for `ctx.idempotency` (a PostgreSQL handler completes it in its own transaction). */
const claims = new WeakMap<Delivery, InboxClaim>();
export const claimOf = (d: Delivery): InboxClaim | undefined => claims.get(d);

/**
 * Runs each delivery at most once per (group, event id) across replicas and
 * restarts, as far as the store tells (see guard in @cozebus/core/inbox):
 * an id already handled is acked without running the handler.
 */
export function guarded(handler: DeliveryHandler, group: string, options: IdempotencyOptions, policy: RetryPolicy, report: (err: Error) => void): DeliveryHandler {
  const { store, ...times } = options;
  return async (d) => {
    let eventId: string;
    try {
      eventId = inboxEventId(d);
    } catch (err) {
      report(err as Error);
      return outcomeOfFailure(err, d.attempt, policy);
    }
    return guard(store, { group, eventId, ...times, onError: report }, (claim) => {
      claims.set(d, claim);
      return handler(d);
    });
  };
}

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

/** The port handler for a typed subscription: the policy, guarded by the inbox when one is given. */
export function handlerFor(
  run: (d: Delivery) => void | Promise<void>,
  qos: QualityOfService,
  policy: RetryPolicy,
  report: (err: Error) => void,
  options: { readonly group: string; readonly idempotency?: IdempotencyOptions },
): DeliveryHandler {
  const settled = settling(run, qos, policy, report);
  return options.idempotency === undefined ? settled : guarded(settled, options.group, options.idempotency, policy, report);
}
