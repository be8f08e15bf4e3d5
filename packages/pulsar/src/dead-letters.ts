/**
 * Dead letters for operators (`cozebus dlq`): list and replay the dead
 * letters of a domain. They live on the domain's dead-letter topic
 * `<root>.<domain>-DLQ`, kept by its `cozebus-dlq` subscription: listing
 * peeks that subscription over the admin REST API (nothing is consumed);
 * replaying consumes the chosen ones, publishes each back to its original
 * topic with its original properties and key, and only then acks it.
 */
import { ConfigError, describe } from "@cozebus/core/transport";
import { DLQ_PREFIX, DLQ_SUBSCRIPTION, PROP } from "./mapping.js";
import type { PulsarTransport } from "./transport/pulsar-transport.js";
import { readableMessageId } from "./wire/message-id.js";
import type { IncomingMessage, WireConsumer } from "./wire/types.js";

export interface DeadLetter {
  /** `ledger:entry` on the dead-letter topic: what replay() takes. */
  readonly id: string;
  /** The full topic it came from. */
  readonly topic: string | undefined;
  /** The group (subscription) that dead-lettered it. */
  readonly subscription: string | undefined;
  /** Why (a DeadLetterReason when cozebus wrote it); `max-deliveries` for what the broker dead-lettered itself (its redelivery limit). */
  readonly reason: string;
  readonly deliveries: number | undefined;
  readonly error: string | undefined;
  /** The concrete subject (ce-subject). */
  readonly subject: string | undefined;
  /** ce-type. */
  readonly type: string | undefined;
  readonly eventId: string | undefined;
  readonly key: string | undefined;
  readonly time: Date | undefined;
  readonly data: Uint8Array;
  /** Every property, names lower-cased. */
  readonly properties: Readonly<Record<string, string>>;
}

export interface RemoveResult {
  /** Dead-letter ids removed (nothing published). */
  readonly removed: string[];
  /** Ids asked for that were not found. */
  readonly missing: string[];
}

export interface ReplayResult {
  /** Dead-letter ids replayed (published back, then removed from the dead letters). */
  readonly replayed: string[];
  /** Ids asked for that were not found. */
  readonly missing: string[];
  /** Ids that could not be replayed, with why; they stay dead letters. */
  readonly failed: Array<{ readonly id: string; readonly error: string }>;
}

/** Properties that belong to the dead-lettering, not the event: dropped on replay. */
const BROKER_DLQ_PROPS = ["REAL_TOPIC", "ORIGIN_MESSAGE_ID"];

function lower(props: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(props)) out[k.toLowerCase()] = v;
  return out;
}

function toDeadLetter(id: string, data: Uint8Array, rawProps: Readonly<Record<string, string>>, key: string | undefined): DeadLetter {
  const p = lower(rawProps);
  const deliveries = Number(p[`${DLQ_PREFIX}deliveries`]);
  const t = p[`${DLQ_PREFIX}time`];
  return {
    id,
    topic: p[`${DLQ_PREFIX}topic`] ?? p["real_topic"],
    subscription: p[`${DLQ_PREFIX}subscription`],
    reason: p[`${DLQ_PREFIX}reason`] ?? "max-deliveries",
    deliveries: Number.isInteger(deliveries) ? deliveries : undefined,
    error: p[`${DLQ_PREFIX}error`] ?? (p[`${DLQ_PREFIX}reason`] === undefined ? "the broker's redelivery limit (maxRedeliverCount) was reached" : undefined),
    subject: p[PROP.subject],
    type: p[PROP.type],
    eventId: p[PROP.id],
    key,
    time: t === undefined ? undefined : new Date(t),
    data,
    properties: p,
  };
}

export class DeadLetters {
  readonly topic: string;

  constructor(
    private readonly transport: PulsarTransport,
    readonly domain: string,
  ) {
    this.topic = transport.deadLetterTopic(domain);
  }

  /** How many dead letters the domain holds (undefined before the dead-letter topic is provisioned). */
  count(): Promise<number | undefined> {
    return this.transport.admin.backlog(this.topic, DLQ_SUBSCRIPTION);
  }

  /** The oldest dead letters, up to `limit` (default 100), without consuming them. */
  async list(options: { readonly limit?: number } = {}): Promise<DeadLetter[]> {
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1) throw new ConfigError("limit", `expected an integer >= 1, got ${limit}`);
    const out: DeadLetter[] = [];
    for (let n = 1; n <= limit; n++) {
      const m = await this.transport.admin.peek(this.topic, DLQ_SUBSCRIPTION, n);
      if (!m) break;
      out.push(toDeadLetter(m.id, m.data, m.properties, m.key));
    }
    return out;
  }

  /**
   * Publishes dead letters back to their original topics (every group on it
   * gets the event again: Pulsar cannot address one subscription, so
   * handlers should be idempotent by ce-id, which is kept), then removes
   * them. `"all"` replays everything there when it starts; otherwise the ids
   * of list().
   */
  async replay(ids: string | readonly string[], options: { readonly idleMs?: number } = {}): Promise<ReplayResult> {
    const r = await this.#take(ids, options.idleMs, async (dl, m) => {
      if (dl.topic === undefined) return "it does not say which topic it came from";
      const properties: Record<string, string> = {};
      for (const [k, v] of Object.entries(m.properties)) if (!k.toLowerCase().startsWith(DLQ_PREFIX) && !BROKER_DLQ_PROPS.includes(k)) properties[k] = v;
      await this.#producer(dl.topic).send({ data: m.data, ...(m.key !== undefined ? { key: m.key } : {}), properties });
      return undefined;
    });
    return { replayed: r.taken, missing: r.missing, failed: r.failed };
  }

  /**
   * Removes dead letters for good, publishing nothing (an operator's
   * "delete"): each is consumed and acked. `"all"` or ids of list(); an id
   * not there (replayed or removed before) is reported missing.
   */
  async remove(ids: string | readonly string[], options: { readonly idleMs?: number } = {}): Promise<RemoveResult> {
    const r = await this.#take(ids, options.idleMs, () => Promise.resolve(undefined));
    return { removed: r.taken, missing: r.missing };
  }

  /**
   * Consumes the dead-letter subscription up to its backlog when called,
   * runs `each` on the wanted ones and acks those it accepts (undefined);
   * a string or a throw is why it failed, and it stays. The others are
   * left unacked, so they stay dead letters when the socket closes.
   */
  async #take(ids: string | readonly string[], idleMsOption: number | undefined, each: (dl: DeadLetter, m: IncomingMessage) => Promise<string | undefined>): Promise<{ taken: string[]; missing: string[]; failed: Array<{ id: string; error: string }> }> {
    const all = ids === "all";
    const wanted = new Set(all ? [] : typeof ids === "string" ? [ids] : ids);
    const backlog = (await this.count()) ?? 0;
    const result = { taken: [] as string[], missing: [] as string[], failed: [] as Array<{ id: string; error: string }> };
    if (backlog === 0) return { ...result, missing: [...wanted] };
    const idleMs = idleMsOption ?? 3000;
    const queue: IncomingMessage[] = [];
    let wake: (() => void) | undefined;
    const consumer: WireConsumer = await this.transport.wire.consumer(
      this.topic,
      DLQ_SUBSCRIPTION,
      { subscriptionType: "Shared", receiverQueueSize: 1000, negativeAckRedeliveryDelayMs: 1000 },
      {
        onMessage: (m) => {
          queue.push(m);
          wake?.();
        },
      },
    );
    try {
      let seen = 0;
      while (seen < backlog && (all || wanted.size > 0)) {
        if (queue.length === 0) {
          const got = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(false), idleMs);
            wake = () => {
              clearTimeout(timer);
              resolve(true);
            };
          });
          wake = undefined;
          if (!got) break;
          continue;
        }
        const m = queue.shift()!;
        seen++;
        const id = readableMessageId(m.messageId);
        if (!all && !wanted.has(id)) continue; // left unacked: it stays a dead letter when the socket closes
        wanted.delete(id);
        try {
          const why = await each(toDeadLetter(id, m.data, m.properties, m.key), m);
          if (why !== undefined) {
            result.failed.push({ id, error: why });
            continue;
          }
          consumer.ack(m.messageId);
          result.taken.push(id);
        } catch (err) {
          result.failed.push({ id, error: describe(err) });
        }
      }
    } finally {
      await consumer.close();
    }
    result.missing.push(...wanted);
    return result;
  }

  #producers = new Map<string, ReturnType<PulsarTransport["wire"]["producer"]>>();
  #producer(topic: string): ReturnType<PulsarTransport["wire"]["producer"]> {
    let p = this.#producers.get(topic);
    if (!p) {
      p = this.transport.wire.producer(topic);
      this.#producers.set(topic, p);
    }
    return p;
  }

  /** Closes the producers replay() opened (the transport's own close does too). */
  async close(): Promise<void> {
    await Promise.all([...this.#producers.values()].map((p) => p.close()));
    this.#producers.clear();
  }
}
