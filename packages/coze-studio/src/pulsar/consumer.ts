import { HandlerError, backoffDelay, describe, failureKind } from "@cozebus/core/transport";
import { DLQ_SUBSCRIPTION, readableMessageId, type Admin, type IncomingMessage, type PulsarWire, type WireConsumer, type WireProducer } from "@cozebus/pulsar";
import type { ConsumerOptions, CozeConsumer, CozeConsumerStats, CozeMessage } from "../api.js";
import { EventDroppedError, isCozeStudioError, UnknownEventTypeError } from "../errors.js";
import { corePolicy } from "../nats/consumer.js";
import { COZEBUS_SUBSCRIPTION_TYPE, deadLetterTopicOf, pulsarTopicOf, subscriptionOf } from "./naming.js";

export type Decode<T> = (body: Uint8Array) => T;
export type Handle<T> = (event: T, message: CozeMessage) => void | Promise<void>;

export interface PulsarConsumerHost {
  readonly wire: PulsarWire;
  readonly admin: Admin;
  /** The consumers' negativeAckRedeliveryDelay; a longer retry delay is held (unacked) for the rest, then nacked. */
  readonly nackDelayMs: number;
  report(error: Error): void;
}

/** Dead-letter property names: @cozebus/pulsar's (`cozebus-dlq-*`), so its tooling reads them the same. */
export const DLQ_PROP = {
  reason: "cozebus-dlq-reason",
  topic: "cozebus-dlq-topic",
  subscription: "cozebus-dlq-subscription",
  deliveries: "cozebus-dlq-deliveries",
  messageId: "cozebus-dlq-message-id",
  time: "cozebus-dlq-time",
  error: "cozebus-dlq-error",
} as const;

/** Properties the broker's own dead-lettering adds (the WebSocket proxy's Java client). */
const BROKER_DLQ_PROPS = new Set(["REAL_TOPIC", "ORIGIN_MESSAGE_ID"]);

class Stats implements CozeConsumerStats {
  handled = 0;
  retried = 0;
  deadLettered = 0;
  dropped = 0;
}

/** A bounded set of recently settled message ids: a redelivery after a lost ack is acked again, not handled twice. */
class Recent {
  readonly #set = new Set<string>();
  constructor(private readonly max: number) {}
  has(k: string): boolean {
    return this.#set.has(k);
  }
  add(k: string): void {
    this.#set.add(k);
    if (this.#set.size > this.max) this.#set.delete(this.#set.values().next().value as string);
  }
}

function headersOf(props: Readonly<Record<string, string>>): CozeMessage["headers"] {
  const m = new Map<string, string>();
  for (const [k, v] of Object.entries(props)) m.set(k.toLowerCase(), v);
  return {
    get: (name) => m.get(name.toLowerCase()),
    has: (name) => m.has(name.toLowerCase()),
    entries: () => [...m].map(([k, v]): [string, string[]] => [k, [v]]),
  };
}

/**
 * Coze's RegisterConsumer on Pulsar: the subscription named after the group
 * on `persistent://public/default/<topic>`, but Shared (Go: Exclusive), so
 * replicas split the messages. What it adds to Go's Receive/Ack/Nack loop:
 * retries with backoff (hold, then negative ack) instead of the client's
 * fixed nack delay forever, at most `maxDeliveries`, then the group's
 * dead-letter topic `<topic>-<group>-DLQ` (kept by its `cozebus-dlq`
 * subscription) with the reason; undecodable payloads dead-lettered at once.
 */
export async function consumePulsar<T>(
  host: PulsarConsumerHost,
  topic: string,
  group: string,
  decode: Decode<T>,
  handle: Handle<T>,
  options: ConsumerOptions,
): Promise<CozeConsumer> {
  const policy = corePolicy(options.retry);
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new TypeError(`concurrency must be an integer >= 1, got ${concurrency}`);
  const full = pulsarTopicOf(topic);
  const subscription = subscriptionOf(group);
  const dlqTopic = deadLetterTopicOf(topic, group);
  const report = options.onError ?? ((e: Error) => host.report(e));
  // Either side may start first: the topic as Go's client auto-creates it (non-partitioned), the
  // subscription at the earliest retained message (Go's client would create it at the latest), and the
  // dead letters with the subscription that keeps them.
  await host.admin.createTopic(full);
  await host.admin.createSubscription(full, subscription);
  await host.admin.createTopic(dlqTopic);
  await host.admin.createSubscription(dlqTopic, DLQ_SUBSCRIPTION);
  const dlq: WireProducer = host.wire.producer(dlqTopic);

  const stats = new Stats();
  const recent = new Recent(10_000);
  const inFlight = new Set<string>();
  const holds = new Map<NodeJS.Timeout, IncomingMessage>();
  const queue: IncomingMessage[] = [];
  const idle: Array<() => void> = [];
  let running = 0;
  let stopping = false;
  let consumer: WireConsumer | undefined;
  const early: IncomingMessage[] = [];

  const nackLater = (c: WireConsumer, msg: IncomingMessage, delayMs: number): void => {
    const hold = Math.max(0, delayMs - host.nackDelayMs);
    if (hold === 0 || stopping) return c.nack(msg.messageId);
    const timer = setTimeout(() => {
      holds.delete(timer);
      c.nack(msg.messageId);
    }, hold);
    holds.set(timer, msg);
  };

  const deadLetter = async (c: WireConsumer, msg: IncomingMessage, reason: string, error: unknown, attempt: number): Promise<void> => {
    const properties: Record<string, string> = {};
    for (const [k, v] of Object.entries(msg.properties)) if (!k.startsWith("cozebus-dlq-") && !BROKER_DLQ_PROPS.has(k)) properties[k] = v;
    properties[DLQ_PROP.reason] = reason;
    properties[DLQ_PROP.topic] = full;
    properties[DLQ_PROP.subscription] = subscription;
    properties[DLQ_PROP.deliveries] = String(attempt);
    properties[DLQ_PROP.messageId] = readableMessageId(msg.messageId);
    properties[DLQ_PROP.time] = new Date().toISOString();
    if (error !== undefined) properties[DLQ_PROP.error] = describe(error).slice(0, 2000);
    try {
      await dlq.send({ data: msg.data, ...(msg.key !== undefined ? { key: msg.key } : {}), properties });
    } catch (err) {
      report(new Error(`group ${group} on ${topic}: could not dead-letter ${readableMessageId(msg.messageId)} (${describe(err)}); handed back`, { cause: err }));
      c.nack(msg.messageId);
      return;
    }
    stats.deadLettered++;
    recent.add(readableMessageId(msg.messageId));
    c.ack(msg.messageId);
  };

  const run = async (c: WireConsumer, msg: IncomingMessage): Promise<void> => {
    const id = readableMessageId(msg.messageId);
    const attempt = msg.redeliveryCount + 1;
    const cm: CozeMessage = {
      topic,
      group,
      body: msg.data,
      shardingKey: msg.key === undefined || msg.key === "" ? undefined : msg.key,
      id: msg.properties["ce-id"],
      headers: headersOf(msg.properties),
      attempt,
      messageId: id,
    };
    let event: T;
    try {
      event = decode(msg.data);
    } catch (err) {
      const unknown = err instanceof UnknownEventTypeError || isCozeStudioError(err, "COZE_UNKNOWN_EVENT_TYPE");
      if (unknown && attempt < policy.maxDeliveries) {
        // A newer build's event type: another instance may know it.
        stats.retried++;
        nackLater(c, msg, backoffDelay(policy.backoff, attempt));
        return;
      }
      report(new Error(`group ${group} on ${topic}: message ${id} dead-lettered as ${unknown ? "unknown-event" : "undecodable"}: ${describe(err)}`, { cause: err }));
      await deadLetter(c, msg, unknown ? "unknown-event" : "undecodable", err, attempt);
      return;
    }
    try {
      await handle(event, cm);
    } catch (err) {
      const kind = failureKind(err);
      if (kind === "non-retryable") {
        if (options.nonRetryable === "dead-letter") return deadLetter(c, msg, "non-retryable", err, attempt);
        stats.dropped++;
        report(new EventDroppedError(topic, group, err));
        recent.add(id);
        c.ack(msg.messageId);
        return;
      }
      report(new HandlerError(`${topic} (group ${group})`, err));
      if (kind !== "retryable") return deadLetter(c, msg, kind, err, attempt);
      if (attempt >= policy.maxDeliveries) return deadLetter(c, msg, "max-deliveries", err, attempt);
      stats.retried++;
      const asked = (err as { delayMs?: unknown }).delayMs;
      nackLater(c, msg, typeof asked === "number" && asked >= 0 ? asked : backoffDelay(policy.backoff, attempt));
      return;
    }
    stats.handled++;
    recent.add(id);
    c.ack(msg.messageId);
  };

  const pump = (): void => {
    while (!stopping && running < concurrency && queue.length > 0 && consumer !== undefined) {
      const msg = queue.shift()!;
      const c = consumer;
      const id = readableMessageId(msg.messageId);
      running++;
      void run(c, msg)
        .catch((err: unknown) => report(new Error(`group ${group} on ${topic}: ${describe(err)}`, { cause: err })))
        .finally(() => {
          running--;
          inFlight.delete(id);
          if (running === 0) for (const r of idle.splice(0)) r();
          pump();
        });
    }
  };

  const onMessage = (msg: IncomingMessage): void => {
    if (stopping) return; // not settled: back to the subscription when the socket closes
    if (consumer === undefined) {
      early.push(msg);
      return;
    }
    const id = readableMessageId(msg.messageId);
    if (recent.has(id)) {
      consumer.ack(msg.messageId); // settled here already; its ack was lost with a dropped socket
      return;
    }
    if (inFlight.has(id)) return; // redelivered after a reconnect while still running
    inFlight.add(id);
    queue.push(msg);
    pump();
  };

  try {
    consumer = await host.wire.consumer(
      full,
      subscription,
      {
        subscriptionType: COZEBUS_SUBSCRIPTION_TYPE,
        receiverQueueSize: Math.min(1000, Math.max(2, concurrency * 2)),
        negativeAckRedeliveryDelayMs: host.nackDelayMs,
        // The broker's own dead-lettering is the backstop, one delivery after ours (a process that died during the last one).
        deadLetter: { topic: dlqTopic, maxRedeliverCount: policy.maxDeliveries },
      },
      { onMessage, onDisconnect: (e) => report(e), onError: (e) => report(e) },
    );
  } catch (err) {
    await dlq.close().catch(() => undefined);
    if (/busy|exclusive|different type/i.test(describe(err))) {
      throw new Error(
        `group ${group} on ${full}: the subscription is held by another consumer type (Coze's Go consumers subscribe Exclusive, cozebus Shared), so the two cannot share a group on Pulsar; give the cozebus service its own group, or stop every Go consumer of ${group} first (${describe(err)})`,
        { cause: err },
      );
    }
    throw err;
  }
  const held = early.splice(0);
  for (const m of held) onMessage(m);

  return {
    topic,
    group,
    mode: "pulsar",
    get stats(): CozeConsumerStats {
      return { ...stats };
    },
    stop: async () => {
      if (stopping) return;
      stopping = true;
      queue.length = 0; // not started: unacked, back to the subscription when the socket closes
      if (running > 0) await new Promise<void>((r) => idle.push(r));
      for (const [timer, msg] of holds) {
        clearTimeout(timer);
        consumer?.nack(msg.messageId);
      }
      holds.clear();
      await consumer?.close();
      await dlq.close().catch(() => undefined);
    },
  };
}
