import { createHash } from "node:crypto";
import {
  ConfigError,
  DEFAULT_RETRY,
  HandlerError,
  RecentIds,
  describe,
  outcomeOfFailure,
  retryPolicy,
  type DeadLetterReason,
  type Delivery,
  type DeliveryHandler,
  type EventMeta,
  type Headers,
  type Outcome,
  type SubscriptionSpec,
  type TransportSubscription,
} from "@cozebus/core/transport";
import { DLQ_PREFIX, PROP, fullTopic, topicLocalName, type Names } from "../mapping.js";
import { readableMessageId } from "../wire/message-id.js";
import type { IncomingMessage, PulsarWire, WireConsumer } from "../wire/types.js";
import { Dispatcher } from "./dispatcher.js";
import type { Publisher } from "./publisher.js";

export interface SubscriptionContext {
  readonly wire: PulsarWire;
  readonly names: Names;
  readonly publisher: Publisher;
  readonly nackDelayMs: number;
  readonly deadLetterTopic: string;
  readonly topicRefreshMs: number;
  /** Topics of the domain (for `events: "domain"`). */
  listDomainTopics(): Promise<string[]>;
  /**
   * Makes sure the subscription exists, created at the earliest retained
   * message when it does not (the WebSocket API of Pulsar 3.0 has no
   * subscriptionInitialPosition, and would create it at the latest).
   */
  ensureSubscription(topic: string, subscription: string): Promise<void>;
  readonly onError: (e: Error) => void;
}

interface Job {
  readonly consumer: WireConsumer;
  readonly msg: IncomingMessage;
  readonly dedupeKey: string;
}


/** Receiver queue of a Key_Shared consumer (the WebSocket proxy's maximum is 1,000): see #add. */
const KEY_SHARED_RECEIVER_QUEUE = 1000;
/** Properties the broker's own dead-lettering adds (the WebSocket proxy's Java client). */
const BROKER_DLQ_PROPS = new Set(["REAL_TOPIC", "ORIGIN_MESSAGE_ID"]);

/**
 * One group's subscription: a consumer per topic (the WebSocket API has no
 * multi-topic consumer), Shared by default, Key_Shared for orderBy. It runs
 * the handler with bounded concurrency and carries out each outcome.
 */
export class PulsarSubscription implements TransportSubscription {
  readonly #consumers = new Map<string, WireConsumer>();
  readonly #dispatcher: Dispatcher<Job>;
  readonly #recent = new RecentIds<string>(10_000);
  readonly #inFlight = new Set<string>();
  /** Retry holds: events waiting (unacked) for the rest of their retry delay. */
  readonly #holds = new Map<NodeJS.Timeout, Job>();
  /** Wakes ordered in-place retries and deliverAt waits when stop() begins. */
  readonly #wakers = new Set<() => void>();
  #stopping = false;
  #refresh: NodeJS.Timeout | undefined;
  readonly #maxDeliveries: number;
  readonly #ordered: boolean;
  readonly #concurrency: number;
  readonly #onError: (e: Error) => void;
  /** The Pulsar subscription's name: the group, or the group and a hash of its field filters. */
  readonly name: string;

  constructor(
    private readonly ctx: SubscriptionContext,
    private readonly spec: SubscriptionSpec,
    private readonly handler: DeliveryHandler,
  ) {
    const c = spec.concurrency ?? 1;
    if (!Number.isInteger(c) || c < 1) throw new ConfigError("subscription.concurrency", `expected an integer >= 1, got ${c}`);
    this.#concurrency = c;
    this.#maxDeliveries = retryPolicy({ maxDeliveries: spec.maxDeliveries ?? DEFAULT_RETRY.maxDeliveries }).maxDeliveries;
    if (!/^[A-Za-z0-9_.=:-]+$/.test(spec.group)) {
      throw new ConfigError("subscription.group", `${JSON.stringify(spec.group)} cannot name a Pulsar subscription: letters, digits and _ . = : - only`);
    }
    this.name = subscriptionName(spec);
    this.#ordered = spec.orderBy !== undefined;
    this.#onError = spec.onError ?? ctx.onError;
    this.#dispatcher = new Dispatcher<Job>(c, this.#ordered, (job) => this.#run(job));
  }

  async start(): Promise<void> {
    const topics = await this.#topics();
    try {
      for (const t of topics) await this.#add(t);
    } catch (err) {
      await this.#closeConsumers();
      throw err;
    }
    if (this.spec.events === "domain" && this.ctx.topicRefreshMs > 0) {
      this.#refresh = setInterval(() => void this.#rediscover(), this.ctx.topicRefreshMs);
      this.#refresh.unref();
    }
  }

  async #topics(): Promise<string[]> {
    if (this.spec.events === "domain") return this.ctx.listDomainTopics();
    const set = new Set(this.spec.events.map((s) => fullTopic(this.ctx.names, topicLocalName(s.template, this.ctx.names.root))));
    return [...set];
  }

  /** `events: "domain"`: topics of the domain created since (a newer build's event types). */
  async #rediscover(): Promise<void> {
    if (this.#stopping) return;
    try {
      for (const t of await this.ctx.listDomainTopics()) if (!this.#consumers.has(t) && !this.#stopping) await this.#add(t);
    } catch (err) {
      this.#onError(new Error(`subscription ${this.spec.group}: looking for new topics of domain ${this.spec.domain} failed: ${describe(err)}`, { cause: err }));
    }
  }

  async #add(topic: string): Promise<void> {
    // Messages can in principle arrive before open() returns: keep them until the consumer is known.
    const known: { consumer?: WireConsumer } = {};
    const early: IncomingMessage[] = [];
    // A group's first subscribe starts at the earliest retained event, so what was published before it is not lost to it.
    await this.ctx.ensureSubscription(topic, this.name);
    const consumer = await this.ctx.wire.consumer(
      topic,
      this.name,
      {
        subscriptionType: this.#ordered ? "Key_Shared" : "Shared",
        // The WebSocket proxy hands out this many unsettled messages at most: enough to keep every slot busy, few enough that other instances get their share.
        // Key_Shared needs more: a message whose key's consumer has no permit goes to the broker's replay set, and on
        // Pulsar 3.0 a subscription whose backlog is all in replay can stop dispatching although every consumer has
        // permits (seen: msgInReplay 2,873 = the backlog, nothing delivered for 60 s; PIP-379 reworked this in 4.0).
        receiverQueueSize: this.#ordered ? KEY_SHARED_RECEIVER_QUEUE : Math.min(1000, Math.max(2, this.#concurrency * 2)),
        negativeAckRedeliveryDelayMs: this.ctx.nackDelayMs,
        // The broker's own dead-lettering is the backstop, one delivery after ours (a process that died during the last delivery).
        deadLetter: { topic: this.ctx.deadLetterTopic, maxRedeliverCount: this.#maxDeliveries },
      },
      {
        onMessage: (msg) => (known.consumer ? this.#onMessage(known.consumer, topic, msg) : early.push(msg)),
        onDisconnect: (e) => this.#onError(e),
        onError: (e) => this.#onError(e),
      },
    );
    known.consumer = consumer;
    this.#consumers.set(topic, consumer);
    for (const msg of early.splice(0)) this.#onMessage(consumer, topic, msg);
  }

  #onMessage(c: WireConsumer, topic: string, msg: IncomingMessage): void {
    if (this.#stopping) return; // not settled: back to the subscription when the socket closes
    const dedupeKey = `${topic}|${readableMessageId(msg.messageId)}`;
    if (this.#recent.has(dedupeKey)) {
      // Handled here already; its ack was lost (socket dropped before it reached the broker).
      c.ack(msg.messageId);
      return;
    }
    if (this.#inFlight.has(dedupeKey)) return; // redelivered after a reconnect while still running: its outcome is coming
    this.#inFlight.add(dedupeKey);
    this.#dispatcher.push({ consumer: c, msg, dedupeKey }, msg.key ?? "");
  }

  async #run(job: Job): Promise<void> {
    try {
      await this.#waitDeliverAt(job.msg);
      if (this.#stopping) return; // not started: back to the subscription when the socket closes
      for (let local = 0; ; local++) {
        const attempt = job.msg.redeliveryCount + 1 + local;
        const delivery = this.#delivery(job, attempt);
        const outcome = await this.#handle(delivery, attempt);
        if (outcome.type === "retry" && attempt < this.#maxDeliveries && this.#ordered && !this.#stopping) {
          this.#settled(delivery);
          // Ordered: retry in place, holding the key, so later events of the key cannot overtake this one.
          await this.#wait(outcome.delayMs);
          if (!this.#stopping) continue;
          job.consumer.nack(job.msg.messageId);
          return;
        }
        await this.#carryOut(job, outcome, attempt);
        this.#settled(delivery);
        return;
      }
    } finally {
      this.#inFlight.delete(job.dedupeKey);
    }
  }

  /** Tells the subscription's observer (metrics) the outcome was carried out; its failure is not ours. */
  #settled(delivery: Delivery): void {
    try {
      this.spec.observer?.settled?.(delivery);
    } catch {
      // the observer's problem
    }
  }

  async #handle(delivery: Delivery, attempt: number): Promise<Outcome> {
    try {
      return await this.handler(delivery);
    } catch (err) {
      this.#onError(new HandlerError(delivery.subject, err));
      return outcomeOfFailure(err, attempt, retryPolicy({ maxDeliveries: this.#maxDeliveries }));
    }
  }

  #delivery(job: Job, attempt: number): Delivery {
    const headers = new Map<string, string>();
    for (const [k, v] of Object.entries(job.msg.properties)) headers.set(k.toLowerCase(), v);
    const subject = headers.get(PROP.subject) ?? job.consumer.topic.replace(/^.*\//, "");
    return {
      subject,
      data: job.msg.data,
      headers: propertiesView(headers),
      event: eventMeta(headers),
      attempt,
      position: readableMessageId(job.msg.messageId),
      working: () => {},
    };
  }

  async #carryOut(job: Job, outcome: Outcome, attempt: number): Promise<void> {
    const { consumer, msg } = job;
    if (outcome.type === "ack") {
      this.#recent.add(job.dedupeKey);
      consumer.ack(msg.messageId);
      return;
    }
    if (outcome.type === "retry") {
      if (attempt >= this.#maxDeliveries) {
        await this.#deadLetter(job, "max-deliveries", outcome.error, attempt);
        return;
      }
      // The consumer's nack delay is fixed when it subscribes: hold the event (unacked) for the rest of the
      // asked delay, then nack it. The broker then redelivers it, to any instance, with its redelivery count.
      const hold = Math.max(0, outcome.delayMs - this.ctx.nackDelayMs);
      if (hold === 0 || this.#stopping) {
        consumer.nack(msg.messageId);
        return;
      }
      const timer = setTimeout(() => {
        this.#holds.delete(timer);
        consumer.nack(msg.messageId);
      }, hold);
      this.#holds.set(timer, job);
      return;
    }
    await this.#deadLetter(job, outcome.reason, outcome.error, attempt);
  }

  /**
   * Dead-letters by publishing to the domain's dead-letter topic with the
   * reason, then acking. The broker's own dead-lettering would lose the
   * reason; it only catches what we could not settle.
   */
  async #deadLetter(job: Job, reason: DeadLetterReason, error: unknown, attempt: number): Promise<void> {
    const { consumer, msg } = job;
    const properties: Record<string, string> = {};
    for (const [k, v] of Object.entries(msg.properties)) if (!k.startsWith(DLQ_PREFIX) && !BROKER_DLQ_PROPS.has(k)) properties[k] = v;
    properties[`${DLQ_PREFIX}reason`] = reason;
    properties[`${DLQ_PREFIX}topic`] = consumer.topic;
    properties[`${DLQ_PREFIX}subscription`] = consumer.subscription;
    properties[`${DLQ_PREFIX}deliveries`] = String(attempt);
    properties[`${DLQ_PREFIX}message-id`] = readableMessageId(msg.messageId);
    properties[`${DLQ_PREFIX}time`] = new Date().toISOString();
    if (error !== undefined) properties[`${DLQ_PREFIX}error`] = describe(error).slice(0, 2000);
    try {
      await this.ctx.publisher.producer(this.ctx.deadLetterTopic).send({ data: msg.data, ...(msg.key !== undefined ? { key: msg.key } : {}), properties });
    } catch (err) {
      // Not stored: hand it back rather than lose it.
      this.#onError(new Error(`subscription ${this.spec.group}: could not dead-letter ${readableMessageId(msg.messageId)} from ${consumer.topic} (${describe(err)}); handed back`, { cause: err }));
      consumer.nack(msg.messageId);
      return;
    }
    this.#recent.add(job.dedupeKey);
    consumer.ack(msg.messageId);
  }

  /** The broker may dispatch a delayed event up to one tick early; it is not handled before its time. */
  async #waitDeliverAt(msg: IncomingMessage): Promise<void> {
    const at = Number(msg.properties[PROP.deliverAt]);
    if (Number.isFinite(at) && at > Date.now()) await this.#wait(at - Date.now());
  }

  /** Sleeps, but wakes at once when stop() begins. */
  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakers.add(done);
    });
  }

  /** The topics this subscription reads now (full names). */
  get topics(): string[] {
    return [...this.#consumers.keys()];
  }

  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    if (this.#refresh) clearInterval(this.#refresh);
    for (const wake of [...this.#wakers]) wake();
    // What has not started stays unacked: the broker gives it to another consumer when the sockets close.
    await this.#dispatcher.stop();
    // Retries waiting out their delay are handed back now, to be redelivered after the nack delay.
    for (const [timer, job] of this.#holds) {
      clearTimeout(timer);
      job.consumer.nack(job.msg.messageId);
    }
    this.#holds.clear();
    await this.#closeConsumers();
  }

  /** Closes at once (the transport's close): nothing waits for running handlers; what is unacked goes back to the group. */
  async abort(): Promise<void> {
    this.#stopping = true;
    if (this.#refresh) clearInterval(this.#refresh);
    for (const wake of [...this.#wakers]) wake();
    for (const timer of this.#holds.keys()) clearTimeout(timer);
    this.#holds.clear();
    void this.#dispatcher.stop();
    await this.#closeConsumers();
  }

  async #closeConsumers(): Promise<void> {
    await Promise.all([...this.#consumers.values()].map((c) => c.close()));
    this.#consumers.clear();
  }
}

/**
 * The group's Pulsar subscription, or, for a subscription with field
 * filters, a subscription of its own: `<group>_<hash>` (as NATS names its
 * durable consumers). The typed layer filters above the port here and acks
 * what its filter skips, so sharing the group's subscription with unfiltered
 * members would ack their events away.
 */
export function subscriptionName(spec: Pick<SubscriptionSpec, "group" | "events">): string {
  if (spec.events === "domain") return spec.group;
  const filters = spec.events
    .filter((s) => s.filter !== undefined && Object.keys(s.filter).length > 0)
    .map((s) => `${s.template.template}?${Object.entries(s.filter!).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join("&")}`)
    .sort();
  if (filters.length === 0) return spec.group;
  return `${spec.group}_${createHash("sha256").update(filters.join("\n")).digest("hex").slice(0, 8)}`;
}

/** Message properties as the port's read-only Headers (names were lower-cased on the way in). */
function propertiesView(p: ReadonlyMap<string, string>): Headers {
  return {
    get: (name) => p.get(name.toLowerCase()),
    has: (name) => p.has(name.toLowerCase()),
    entries: () => [...p].map(([k, v]): [string, string[]] => [k, [v]]),
  };
}

function eventMeta(h: ReadonlyMap<string, string>): EventMeta | undefined {
  const id = h.get(PROP.id);
  const type = h.get(PROP.type);
  if (id === undefined || type === undefined) return undefined;
  const t = h.get(PROP.time);
  const time = t === undefined ? undefined : new Date(t);
  return {
    id,
    type,
    source: h.get(PROP.source) ?? "",
    time: time && !Number.isNaN(time.getTime()) ? time : undefined,
    contentType: h.get(PROP.contentType) ?? "",
    traceparent: h.get(PROP.traceparent),
  };
}
