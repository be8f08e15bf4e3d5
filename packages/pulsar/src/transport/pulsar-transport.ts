import {
  FeatureUnavailableError,
  ConnectionClosedError,
  describe,
  type BatchResult,
  type DeliveryHandler,
  type DomainPlan,
  type GroupLag,
  type OutgoingEvent,
  type ProvisionResult,
  type QualityOfService,
  type Receipt,
  type Reply,
  type RequestSpec,
  type ServeSpec,
  type SubscriptionSpec,
  type Transport,
  type TransportFeatures,
  type TransportSubscription,
} from "@cozebus/core/transport";
import type { ResolvedConfig } from "../config/resolve.js";
import { DLQ_SUBSCRIPTION, deadLetterLocalName, domainTopicPrefix, fullTopic, type Names } from "../mapping.js";
import type { Admin } from "../wire/admin.js";
import type { PulsarWire } from "../wire/types.js";
import { provisionDomain } from "./provision.js";
import { Publisher } from "./publisher.js";
import { PulsarSubscription } from "./subscription.js";

/**
 * What this transport gives, the same for both qualities of service: an
 * at-most-once event travels on the same persistent topics as any other
 * (effectiveQos says at-least-once), so a schema changing an event's qos
 * never moves it to another topic during a rolling upgrade.
 */
export const PULSAR_FEATURES: TransportFeatures = Object.freeze({
  durable: true,
  redelivery: true,
  deadLetters: true,
  // Key_Shared: one key (= the subject's field values, on a topic per template) to one consumer at a time, handled serially.
  orderPerSubject: true,
  orderPerKey: true,
  brokerFilters: false,
  // No ack timeout is set: an unacked event comes back only when its consumer's socket closes, so a long
  // handler is never redelivered while it runs, and working() has nothing to extend.
  extendAck: true,
  requestReply: false,
  messageTtl: false,
  // deliverAfterMs; consumers also hold an event the broker dispatches early (its tick) until its time.
  delayedDelivery: true,
  atomicBatch: false,
});

export class PulsarTransport implements Transport {
  readonly name = "pulsar";
  readonly subjectRoot: string;
  readonly names: Names;
  readonly #publisher: Publisher;
  readonly #subscriptions = new Set<PulsarSubscription>();
  readonly #dlqReady = new Map<string, Promise<void>>();
  #closed = false;

  constructor(
    readonly config: ResolvedConfig,
    readonly wire: PulsarWire,
    readonly admin: Admin,
    private readonly onError: (e: Error) => void,
  ) {
    this.subjectRoot = config.subjectRoot;
    this.names = { tenant: config.tenant, namespace: config.namespace, root: config.subjectRoot };
    this.#publisher = new Publisher(wire, this.names);
  }

  report(error: Error): void {
    this.onError(error);
  }

  features(_qos: QualityOfService): TransportFeatures {
    return PULSAR_FEATURES;
  }

  effectiveQos(_declared: QualityOfService): QualityOfService {
    return "at-least-once";
  }

  /** The topic an event goes to (for operators and tests). */
  topicOf(event: Pick<OutgoingEvent, "address">): string {
    return this.#publisher.topicOf(event);
  }

  deadLetterTopic(domain: string): string {
    return fullTopic(this.names, deadLetterLocalName(this.names.root, domain));
  }

  publish(event: OutgoingEvent): Promise<Receipt> {
    if (this.#closed) return Promise.reject(new ConnectionClosedError(`publish to ${event.address.template.template}`));
    return this.#publisher.publish(event);
  }

  /** Every send goes out at once (pipelined on each topic's producer), then all receipts are awaited. */
  async publishBatch(events: readonly OutgoingEvent[], options?: { readonly atomic?: boolean }): Promise<BatchResult[]> {
    if (options?.atomic) {
      throw new FeatureUnavailableError("atomic-batch", "Pulsar's WebSocket API has no transactions: a batch cannot be stored all-or-nothing; publish without atomic, or make the handlers idempotent per event");
    }
    return Promise.all(
      events.map((e) =>
        this.publish(e).then(
          (receipt): BatchResult => ({ ok: true, receipt }),
          (error: unknown): BatchResult => ({ ok: false, error: error instanceof Error ? error : new Error(String(error)) }),
        ),
      ),
    );
  }

  async subscribe(spec: SubscriptionSpec, handler: DeliveryHandler): Promise<TransportSubscription> {
    if (this.#closed) throw new ConnectionClosedError(`subscribe ${spec.group}`);
    const deadLetterTopic = this.deadLetterTopic(spec.domain);
    await this.#ensureDlq(spec.domain, deadLetterTopic);
    const sub = new PulsarSubscription(
      {
        wire: this.wire,
        names: this.names,
        publisher: this.#publisher,
        nackDelayMs: this.config.nackDelayMs,
        deadLetterTopic,
        topicRefreshMs: this.config.topicRefreshMs,
        listDomainTopics: () => this.#domainTopics(spec.domain),
        ensureSubscription: (topic, name) => this.#ensureSubscription(topic, name),
        onError: this.onError,
      },
      spec,
      handler,
    );
    await sub.start();
    this.#subscriptions.add(sub);
    return {
      stop: async () => {
        await sub.stop();
        this.#subscriptions.delete(sub);
      },
      // Topic stats through the admin REST API, per topic the subscription reads (one GET each).
      lag: async () => {
        const lags = await Promise.all(
          sub.topics.map(async (topic): Promise<GroupLag | undefined> => {
            const s = await this.admin.subscriptionStats(topic, sub.name);
            return s === undefined ? undefined : { destination: topic, consumer: sub.name, pending: s.msgBacklog, ackPending: s.unackedMessages };
          }),
        );
        return lags.filter((l): l is GroupLag => l !== undefined);
      },
    };
  }

  /**
   * Dead letters must be kept from the first one on: Pulsar keeps nothing on
   * a topic without a subscription. provision() creates it; a subscriber
   * makes sure of it too (once per domain), and says so when it cannot.
   */
  #ensureDlq(domain: string, topic: string): Promise<void> {
    let p = this.#dlqReady.get(domain);
    if (!p) {
      p = this.admin.createSubscription(topic, DLQ_SUBSCRIPTION).then(
        () => {},
        (err: unknown) => {
          this.#dlqReady.delete(domain);
          this.onError(new Error(`could not make sure dead letters of domain ${domain} are kept (subscription ${DLQ_SUBSCRIPTION} on ${topic}): ${describe(err)}; run provision with a role allowed to, or dead letters sent before that are lost`, { cause: err }));
        },
      );
      this.#dlqReady.set(domain, p);
    }
    return p;
  }

  /**
   * Creates the group's subscription at the earliest retained event before
   * its consumer opens (the consumer would create it at the latest one, and
   * every event published before the group first subscribed would be lost to
   * it). A topic not there yet is created first. When the role may not do
   * either, that is reported and the consumer opens anyway.
   */
  async #ensureSubscription(topic: string, name: string): Promise<void> {
    try {
      let stored = await this.admin.hasMessages(topic);
      if (stored === undefined) {
        await this.admin.createTopic(topic);
        stored = false;
      }
      // A topic never published to: earliest and latest are the same place, and a cursor reset to (-1, -1) is
      // only made where it matters (a Key_Shared subscription created that way on a fresh topic stalled under load).
      await this.admin.createSubscription(topic, name, stored ? "earliest" : "latest");
    } catch (err) {
      this.onError(new Error(`subscription ${name} on ${topic}: could not create it at the earliest event (${describe(err)}); the consumer creates it at the latest, so events published before now are not delivered to this group`, { cause: err }));
    }
  }

  async #domainTopics(domain: string): Promise<string[]> {
    const prefix = fullTopic(this.names, domainTopicPrefix(this.names.root, domain));
    const all = await this.admin.topics(this.names.tenant, this.names.namespace);
    // Partitions of a partitioned topic are listed too; the WebSocket API consumes a partitioned topic by its base name.
    const base = new Set(all.filter((t) => t.startsWith(prefix)).map((t) => t.replace(/-partition-\d+$/, "")));
    return [...base].sort();
  }

  request(_spec: RequestSpec): Promise<Reply> {
    return Promise.reject(requestReplyUnavailable());
  }

  serve(_spec: ServeSpec, _handler: unknown): Promise<TransportSubscription> {
    return Promise.reject(requestReplyUnavailable());
  }

  provision(plan: DomainPlan): Promise<ProvisionResult[]> {
    return provisionDomain(this.admin, this.names, plan);
  }

  /** Stops every subscription (in-flight handlers finish and their outcomes are carried out), waits for every receipt, closes the sockets. */
  async drain(): Promise<void> {
    if (this.#closed) return;
    await Promise.all([...this.#subscriptions].map((s) => s.stop()));
    this.#subscriptions.clear();
    await this.#publisher.flush();
    await this.close();
  }

  /** Closes at once: running handlers are not waited for (their events go back to the group, unacked). Prefer drain(). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((s) => s.abort()));
    this.#subscriptions.clear();
    await this.#publisher.close();
    await this.wire.close();
  }
}

function requestReplyUnavailable(): FeatureUnavailableError {
  return new FeatureUnavailableError(
    "request-reply",
    "the Pulsar transport has no request/reply (Pulsar has no reply inboxes; emulating them with per-instance topics would be slow and leak topics): run operations over NATS (COZE_MQ_TYPE=nats) or call the service directly",
  );
}
