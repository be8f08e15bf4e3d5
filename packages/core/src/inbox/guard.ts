import { ConfigError } from "../errors.js";
import type { Delivery, Outcome } from "../port/transport.js";
import { ACK } from "../policy/outcome.js";
import {
  InboxBusyError,
  InboxKeyError,
  InboxUnavailableError,
  LeaseLostError,
  isAlreadyHandled,
  type InboxClaim,
  type InboxStore,
  type InboxTimes,
} from "./store.js";

export const INBOX_DEFAULTS = Object.freeze({
  /** Longer than any ordinary handler; renewed while the handler runs. */
  leaseMs: 30_000,
  /** A day: far beyond JetStream's default duplicate window (2 min) and any redelivery backoff. */
  retentionMs: 24 * 60 * 60_000,
  /** JetStream's default duplicate window: the shortest retention `guard` accepts unless told the stream's own. */
  duplicateWindowMs: 120_000,
  /** Retry delay when the store cannot be reached. */
  unavailableDelayMs: 1_000,
  /** A busy retry never comes back sooner than this. */
  minBusyDelayMs: 50,
});

export interface GuardOptions {
  readonly group: string;
  /** The event's id: `inboxEventId(delivery)`. */
  readonly eventId: string;
  /** Default 30 s. */
  readonly leaseMs?: number;
  /** How long a handled id is remembered; default 24 h; must be at least `duplicateWindowMs`. */
  readonly retentionMs?: number;
  /**
   * The stream's duplicate window (a publisher's resend inside it is
   * dropped by the broker; after it, only the inbox catches it). Default
   * 2 min (JetStream's default). `retentionMs` below it is a ConfigError.
   */
  readonly duplicateWindowMs?: number;
  /** Retry delay when the store is down; default 1 s. */
  readonly unavailableDelayMs?: number;
  /** How often the claim is renewed while the handler runs; default `leaseMs / 3`; `false`: never (the lease must outlast the handler). */
  readonly renewEveryMs?: number | false;
  /** Failures that change no outcome: a release or renewal that failed, a lease lost while the handler ran. */
  readonly onError?: (error: Error) => void;
}

/** The lease and retention `guard` would use for these options, validated. */
export function inboxTimes(options: Pick<GuardOptions, "leaseMs" | "retentionMs" | "duplicateWindowMs">): InboxTimes {
  const leaseMs = options.leaseMs ?? INBOX_DEFAULTS.leaseMs;
  const retentionMs = options.retentionMs ?? INBOX_DEFAULTS.retentionMs;
  const window = options.duplicateWindowMs ?? INBOX_DEFAULTS.duplicateWindowMs;
  if (!Number.isFinite(leaseMs) || leaseMs < 100) throw new ConfigError("idempotency.leaseMs", `${leaseMs} is too short: at least 100 ms`);
  if (!Number.isFinite(retentionMs) || retentionMs < window) {
    throw new ConfigError(
      "idempotency.retentionMs",
      `${retentionMs} ms is shorter than the stream's duplicate window (${window} ms): a resend after the window would run the handler again`,
    );
  }
  if (retentionMs < leaseMs) throw new ConfigError("idempotency.retentionMs", `${retentionMs} ms is shorter than the lease (${leaseMs} ms)`);
  return { leaseMs, retentionMs };
}

/**
 * The id the inbox keys a delivery by: its ce-id; for an event from a
 * non-cozebus publisher (no ce-id), the broker's position of the stored
 * message (`pos:<position>`: the same across its redeliveries, so those are
 * caught; a separate resend is not). Neither: an InboxKeyError
 * (non-retryable: dead-lettered, never handled unguarded).
 */
export function inboxEventId(delivery: Pick<Delivery, "event" | "position" | "subject">): string {
  const id = delivery.event?.id;
  if (id !== undefined && id !== "") return id;
  if (delivery.position !== undefined && delivery.position !== "") return `pos:${delivery.position}`;
  throw new InboxKeyError(delivery.subject);
}

const retry = (delayMs: number, error: Error): Outcome => ({ type: "retry", delayMs, error });

/**
 * Runs `run` at most once per (group, event id) across replicas, as far as
 * the store can tell:
 *
 * - id already done -> ack, `run` is not called;
 * - another replica holds it -> `{ retry, delayMs: its remaining lease }`
 *   (InboxBusyError), `run` is not called: the redelivery then finds it done
 *   (ack) or its claim lapsed (claimed, runs). No in-process waiting, so no
 *   handler slot is held and no transport needs extend-ack for it;
 * - claimed -> `run(claim)`; the claim is renewed while it runs. Its
 *   outcome:
 *   - ack -> `store.complete`, then ack. A failed mark is tried again for
 *     half the lease (a store down for a moment); if it still fails: retry
 *     (InboxUnavailableError), never an ack without the mark, and the mark
 *     goes on being tried in the background until the store answers. A
 *     redelivery to this process meanwhile is marked and acked, not run.
 *     The claim is left to lapse; a redelivery to another replica finds the
 *     id done if the background mark (or the handler's own transaction)
 *     got there first, else runs it again (at least once);
 *   - retry / dead-letter, or `run` throws -> the claim is released (the
 *     next delivery may run at once), and the outcome (or error) is passed
 *     on;
 *   - AlreadyHandledError (thrown, or as a retry's error) -> ack: the
 *     handler found the mark inside its own transaction;
 * - the store cannot be reached on claim -> retry (InboxUnavailableError),
 *   `run` is not called.
 */
export async function guard(store: InboxStore, options: GuardOptions, run: (claim: InboxClaim) => Promise<Outcome>): Promise<Outcome> {
  const times = inboxTimes(options);
  if (typeof options.eventId !== "string" || options.eventId === "") throw new ConfigError("idempotency.eventId", "an inbox needs the event's id (inboxEventId(delivery))");
  if (typeof options.group !== "string" || options.group === "") throw new ConfigError("idempotency.group", "an inbox needs the group's name");
  const key = { group: options.group, eventId: options.eventId };
  const unavailableDelayMs = options.unavailableDelayMs ?? INBOX_DEFAULTS.unavailableDelayMs;
  const report = (err: unknown): void => {
    try {
      options.onError?.(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // a reporter that throws must not change the outcome
    }
  };

  // This process ran the handler for this id already and could not mark it: mark it now, never run it again.
  const unmarked = unmarkedOf(store).get(unmarkedKey(key));
  if (unmarked !== undefined) {
    try {
      await store.complete(unmarked);
    } catch (err) {
      return retry(unavailableDelayMs, new InboxUnavailableError(store.name, "complete", err));
    }
    forgetUnmarked(store, unmarked);
    return ACK;
  }

  let claimed;
  try {
    claimed = await store.claim(key, times);
  } catch (err) {
    return retry(unavailableDelayMs, new InboxUnavailableError(store.name, "claim", err));
  }
  if (claimed.state === "done") return ACK;
  if (claimed.state === "busy") {
    const delayMs = Math.min(Math.max(Math.ceil(claimed.retryInMs), INBOX_DEFAULTS.minBusyDelayMs), times.leaseMs);
    return retry(delayMs, new InboxBusyError(key, delayMs));
  }

  let claim = claimed.claim;
  const renewal = renewWhileRunning(store, () => claim, (c) => (claim = c), options.renewEveryMs ?? Math.floor(times.leaseMs / 3), report);
  let outcome: Outcome;
  try {
    outcome = await run(claimed.claim);
  } catch (err) {
    await renewal.stop();
    if (isAlreadyHandled(err)) return ACK;
    await store.release(claim).catch(report);
    throw err;
  }
  await renewal.stop();
  if (outcome.type === "ack") {
    try {
      await completeWithinLease(store, claim);
    } catch (err) {
      markInBackground(store, claim, unavailableDelayMs);
      return retry(unavailableDelayMs, new InboxUnavailableError(store.name, "complete", err));
    }
    return ACK;
  }
  if (isAlreadyHandled(outcome.error)) return ACK;
  await store.release(claim).catch(report);
  return outcome;
}

/**
 * Ids this process handled but could not mark within the lease (the store
 * down for longer), per store instance. Each is marked in the background
 * until the store answers, and a redelivery that reaches this process
 * first is marked and acked instead of run again. Another replica that
 * claims the id after its lease lapsed, before the mark lands, runs it
 * again: at least once, as documented. Bounded: past MAX_UNMARKED the
 * oldest is forgotten (its redelivery then runs again).
 */
const UNMARKED = new WeakMap<InboxStore, Map<string, InboxClaim>>();
const MAX_UNMARKED = 10_000;
/** The background mark backs off to this interval between tries: short, since a redelivery to another replica races it once the store is back. */
const MAX_MARK_INTERVAL_MS = 1_000;

const unmarkedKey = (k: { group: string; eventId: string }): string => `${k.group}\u0000${k.eventId}`;

function unmarkedOf(store: InboxStore): Map<string, InboxClaim> {
  let m = UNMARKED.get(store);
  if (m === undefined) UNMARKED.set(store, (m = new Map<string, InboxClaim>()));
  return m;
}

function forgetUnmarked(store: InboxStore, claim: InboxClaim): void {
  const m = unmarkedOf(store);
  if (m.get(unmarkedKey(claim)) === claim) m.delete(unmarkedKey(claim));
}

/** Keeps trying `store.complete(claim)` until it succeeds, the id is forgotten (bound) or its retention passed. */
function markInBackground(store: InboxStore, claim: InboxClaim, initialDelayMs: number): void {
  const m = unmarkedOf(store);
  const k = unmarkedKey(claim);
  if (m.has(k)) return;
  if (m.size >= MAX_UNMARKED) m.delete(m.keys().next().value!);
  m.set(k, claim);
  const giveUpAt = Date.now() + claim.retentionMs;
  const attempt = (delay: number): void => {
    const timer = setTimeout(() => {
      if (m.get(k) !== claim) return; // marked by a redelivery, or forgotten
      store.complete(claim).then(
        () => forgetUnmarked(store, claim),
        () => (Date.now() < giveUpAt ? attempt(Math.min(delay * 2, MAX_MARK_INTERVAL_MS)) : forgetUnmarked(store, claim)),
      );
    }, delay);
    timer.unref?.();
  };
  attempt(Math.max(initialDelayMs, 50));
}

/**
 * Marks the claim done, retrying a failed mark while the lease still holds:
 * a store that is briefly unreachable (a nats-server restarting, a database
 * failover) would otherwise turn a handled event into a retry that runs the
 * handler again once the lease lapses. Past the lease another replica may
 * claim the id, so the failure is returned then.
 */
async function completeWithinLease(store: InboxStore, claim: InboxClaim): Promise<void> {
  // The claim was renewed while the handler ran; count the lease from now, with a margin for clock and network.
  const deadline = Date.now() + Math.floor(claim.leaseMs / 2);
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    try {
      await store.complete(claim);
      return;
    } catch (err) {
      if (Date.now() + delay >= deadline) throw err;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** Renews the claim every `everyMs` while the handler runs; `stop()` waits for a renewal in flight (release and complete then use its token). */
function renewWhileRunning(
  store: InboxStore,
  current: () => InboxClaim,
  update: (c: InboxClaim) => void,
  everyMs: number | false,
  report: (err: unknown) => void,
): { stop(): Promise<void> } {
  if (everyMs === false || everyMs <= 0) return { stop: () => Promise.resolve() };
  let inFlight: Promise<void> = Promise.resolve();
  let lost = false;
  const timer = setInterval(() => {
    if (lost) return;
    inFlight = inFlight.then(async () => {
      try {
        const renewed = await store.extend(current());
        if (renewed) update(renewed);
        else {
          lost = true;
          report(new LeaseLostError(current()));
        }
      } catch (err) {
        report(err);
      }
    });
  }, everyMs);
  timer.unref?.();
  return {
    stop: async () => {
      clearInterval(timer);
      await inFlight;
    },
  };
}
