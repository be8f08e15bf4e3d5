/**
 * The inbox (idempotent consumer): a store that remembers, per consumer
 * group, which event ids were handled, so a redelivery (on any replica,
 * after any restart) is acked without running the handler again. This file
 * is the store's contract; `guard()` (./guard.ts) is the one caller the
 * typed layer needs. Implementations: `@cozebus/postgres` (a table: the
 * handler can mark "done" inside its own transaction) and `@cozebus/nats`
 * (a JetStream KV bucket per group).
 */
import { CozebusError, NonRetryableError, isCozebusError } from "../errors.js";

/** Which event, for which group: a group's replicas share one set of ids; another group handles the same id on its own. */
export interface InboxKey {
  readonly group: string;
  readonly eventId: string;
}

export interface InboxTimes {
  /**
   * How long a claim keeps other replicas off the id while its handler runs
   * (`guard` renews it every third of this while the handler runs, so it
   * lapses only when the process dies or cannot reach the store).
   */
  readonly leaseMs: number;
  /** How long a finished id is remembered (and a claim is kept at most). */
  readonly retentionMs: number;
}

/** A replica's hold on one id while its handler runs. */
export interface InboxClaim extends InboxKey, InboxTimes {
  /** Store-specific proof of this hold (a KV revision, a row token): release and extend act only on it. */
  readonly token: string;
}

export type ClaimResult =
  /** This replica holds the id: run the handler. */
  | { readonly state: "claimed"; readonly claim: InboxClaim }
  /** The id was handled (within the retention): ack without running. */
  | { readonly state: "done" }
  /** Another replica holds an unexpired claim; it lapses in `retryInMs` unless renewed. */
  | { readonly state: "busy"; readonly retryInMs: number };

export interface InboxStore {
  /** `postgres`, `nats-kv`: for messages and metrics. */
  readonly name: string;
  /**
   * Claims the id for `times.leaseMs`, atomically across replicas: at most
   * one caller gets "claimed" while the claim holds. A claim whose lease
   * ran out (its process died) is taken over. A "done" mark older than the
   * retention counts as absent.
   */
  claim(key: InboxKey, times: InboxTimes): Promise<ClaimResult>;
  /**
   * Marks the id done, remembered for `claim.retentionMs`. Idempotent: a
   * second call, or a call after the handler marked it in its own
   * transaction, changes nothing. Marks done even if the claim was lost in
   * the meantime (the handler did finish).
   */
  complete(claim: InboxClaim): Promise<void>;
  /** Gives the id back so the next delivery can claim it at once. Only this claim: a claim taken over by another replica is left alone. Best effort. */
  release(claim: InboxClaim): Promise<void>;
  /** Renews the lease from now; undefined when this claim is gone (taken over after expiry, or done). */
  extend(claim: InboxClaim): Promise<InboxClaim | undefined>;
}

/** The store could not be read or written: handling pauses (retried later), it never runs a handler unguarded. */
export class InboxUnavailableError extends CozebusError {
  constructor(
    readonly store: string,
    readonly operation: "claim" | "complete",
    cause: unknown,
  ) {
    super(
      "INBOX_UNAVAILABLE",
      operation === "claim"
        ? `the ${store} inbox could not claim the event (${describeCause(cause)}): not handled now, retried later`
        : `the handler succeeded but the ${store} inbox could not mark the event done (${describeCause(cause)}): not acked; the redelivery finds it done if the handler marked it in its own transaction, else runs again once the claim's lease lapses`,
      { cause },
    );
  }
}

/** Another replica is handling the same event id right now. */
export class InboxBusyError extends CozebusError {
  constructor(
    readonly key: InboxKey,
    readonly retryInMs: number,
  ) {
    super("INBOX_BUSY", `event ${key.eventId} of group ${key.group} is being handled by another replica; retried in ${retryInMs} ms (then it is done, or its claim has lapsed)`);
  }
}

/**
 * The event was already handled: thrown where a handler marks it done
 * inside its own transaction and finds the mark there (committed by another
 * replica). The transaction must roll back; `guard` acks the event.
 */
export class AlreadyHandledError extends CozebusError {
  constructor(readonly key: InboxKey) {
    super("ALREADY_HANDLED", `event ${key.eventId} of group ${key.group} was already handled: roll this transaction back, the event is acked`);
  }
}

/** Reported (never thrown into the handler) when a running handler's claim was taken over: its lease lapsed, so another replica may run the event too. */
export class LeaseLostError extends CozebusError {
  constructor(readonly key: InboxKey) {
    super("LEASE_LOST", `the claim on event ${key.eventId} of group ${key.group} lapsed while its handler ran (the store was unreachable or the process stalled longer than the lease): another replica may run it too`);
  }
}

/** An event that has neither an id nor a broker position cannot be deduplicated: dead-lettered, not handled unguarded. */
export class InboxKeyError extends NonRetryableError {
  constructor(subject: string) {
    super(`the event on "${subject}" has no id (ce-id) and no broker position, so the inbox cannot tell a redelivery from a new event; it is dead-lettered, not handled unguarded`);
    this.name = "InboxKeyError";
  }
}

/** Whether `err` is an AlreadyHandledError, also from another copy of the package. */
export function isAlreadyHandled(err: unknown): boolean {
  return isCozebusError(err, "ALREADY_HANDLED");
}

function describeCause(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
