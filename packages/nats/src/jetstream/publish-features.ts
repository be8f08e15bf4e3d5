/**
 * Publish options that lean on newer nats-servers: per-message TTL (2.11),
 * delayed delivery through message schedules (2.12) and atomic batches
 * (2.12). Each is checked against the server first and refused with a typed
 * error where it cannot be carried out — never sent and silently ignored.
 */
import { PubHeaders, type JetStreamClient } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/transport-node";
import { FEATURES, type ServerFeature } from "../connection/server-info.js";
import { FeatureUnavailableError, PublishRejectedError, describe } from "../errors.js";
import type { PubAck } from "./publisher.js";

/** The largest atomic batch nats-server 2.12 accepts. */
export const MAX_ATOMIC_BATCH = 1000;

export interface FeatureGate {
  supports(feature: ServerFeature): boolean;
  version(): string;
}

export function requireFeature(gate: FeatureGate, feature: ServerFeature, what: string): void {
  if (gate.supports(feature)) return;
  throw new FeatureUnavailableError(feature, `${what} needs nats-server ${FEATURES[feature].since} or later; this server is ${gate.version()} (${FEATURES[feature].fallback})`);
}

/** Adds `Nats-TTL`: the stream deletes the event after `ttlMs`, rounded up to whole seconds (the server's granularity). */
export function addTtl(h: MsgHdrs, ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs < 1000) throw new FeatureUnavailableError("msg-ttl", `ttlMs must be an integer of at least 1000 (one second), got ${ttlMs}`);
  h.set(PubHeaders.MessageTTL, `${Math.ceil(ttlMs / 1000)}s`);
}

/**
 * Turns the publish into a schedule: the message is stored on its own
 * schedule subject, and at `at` the server publishes it (headers included)
 * to `target`. One schedule subject per event id, because the server keeps
 * one schedule per subject.
 */
export function addSchedule(h: MsgHdrs, target: string, at: Date): void {
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new FeatureUnavailableError("msg-schedules", "deliverAt must be a valid Date");
  // Whole seconds: the server's "@at" takes an RFC 3339 time.
  h.set(PubHeaders.Schedule, `@at ${new Date(Math.ceil(at.getTime() / 1000) * 1000).toISOString().replace(".000Z", "Z")}`);
  h.set(PubHeaders.ScheduleTarget, target);
}

/** Whether a stored message is a schedule (a server instruction, not an event a handler should see). */
export function isSchedule(h: MsgHdrs | undefined): boolean {
  return h?.has(PubHeaders.Schedule) === true;
}

export interface AtomicItem {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: MsgHdrs;
  readonly id: string;
}

/** Publishes all items as one atomic batch: every event is stored, or none. */
export async function publishAtomic(js: JetStreamClient, items: readonly AtomicItem[]): Promise<PubAck[]> {
  if (items.length > MAX_ATOMIC_BATCH) throw new FeatureUnavailableError("atomic-batch", `an atomic batch holds at most ${MAX_ATOMIC_BATCH} events, got ${items.length}: split it`);
  const [first, ...rest] = items;
  if (first === undefined) return [];
  const last = rest.pop();
  try {
    if (last === undefined) {
      const ack = await js.publish(first.subject, first.data, { headers: first.headers });
      return [{ id: first.id, subject: first.subject, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate }];
    }
    const batch = await js.startBatch(first.subject, first.data, { headers: first.headers });
    for (const it of rest) batch.add(it.subject, it.data, { headers: it.headers });
    const ack = await batch.commit(last.subject, last.data, { headers: last.headers });
    const firstSeq = ack.seq - ack.count + 1;
    return items.map((it, i) => ({ id: it.id, subject: it.subject, stream: ack.stream, seq: firstSeq + i, duplicate: false }));
  } catch (err) {
    if (/atomic publish.*(disabled|not enabled)/i.test(describe(err))) {
      throw new FeatureUnavailableError("atomic-batch", `the stream does not allow atomic batches (${describe(err)}): provision it again with a build that turns allow_atomic on`);
    }
    throw new PublishRejectedError(first.subject, 0, `atomic batch of ${items.length} refused, none stored: ${describe(err)}`);
  }
}
