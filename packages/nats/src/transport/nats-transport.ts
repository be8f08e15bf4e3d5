import {
  ConfigError,
  type BatchResult,
  type DomainPlan,
  type DeliveryHandler,
  type OutgoingEvent,
  type PublishWindow,
  type Outcome,
  type QualityOfService,
  type Receipt,
  type Reply,
  type RequestSpec,
  type ServeSpec,
  type ServedReply,
  type SubscriptionSpec,
  type Transport,
  type TransportFeatures,
  type TransportSubscription,
} from "@cozebus/core/transport";
import type { Bus } from "../connection/bus.js";
import { FEATURES, type ServerFeature } from "../connection/server-info.js";
import type { JetStreamPublishOptions } from "../jetstream/client.js";
import { durableName, type DurableConsumer, type ConsumeOptions, type ConsumerSpec, type DeliveredMessage } from "../jetstream/consumer.js";
import type { PartitionedConsumer, PartitionedOptions } from "../jetstream/partitioned/consumer.js";
import type { PubAck } from "../jetstream/publisher.js";
import type { JsDelivery } from "../jetstream/js-message.js";
import { Inbound } from "../messaging/inbound.js";
import { templatePattern } from "../messaging/subject.js";
import { CoreDelivery, StoredDelivery } from "./delivery.js";
import { consumerPositions, readLag } from "./lag.js";
import { provisionDomain, type StreamProvisionResult } from "./provision.js";

const AT_MOST_ONCE: TransportFeatures = Object.freeze({
  durable: false,
  redelivery: false,
  deadLetters: false,
  orderPerSubject: false,
  orderPerKey: false,
  brokerFilters: true,
  extendAck: false,
  requestReply: true,
  messageTtl: false,
  delayedDelivery: false,
  atomicBatch: false,
});

/** The port's features that depend on the server's version, and the server feature each needs. */
const SERVER_FEATURE: Partial<Record<keyof TransportFeatures, ServerFeature>> = {
  orderPerKey: "pinned-client",
  messageTtl: "msg-ttl",
  delayedDelivery: "msg-schedules",
  atomicBatch: "atomic-batch",
};

const receiptOf = (ack: PubAck, subject: string): Receipt => ({ id: ack.id, subject, qos: "at-least-once", duplicate: ack.duplicate, position: `${ack.stream}#${ack.seq}` });

/**
 * NATS behind the transport port: at most once is core NATS (queue groups),
 * at least once is JetStream (a stream per domain, a durable pull consumer
 * per group). Everything NATS-specific — subjects with wildcards, streams,
 * consumers, acks — stays on this side of the port.
 */
export class NatsTransport implements Transport {
  readonly name = "nats";

  constructor(readonly bus: Bus) {}

  get subjectRoot(): string {
    return this.bus.prefix;
  }

  features(qos: QualityOfService): TransportFeatures {
    if (qos === "at-most-once") return AT_MOST_ONCE;
    const server = this.bus.server;
    return {
      durable: true,
      redelivery: true,
      deadLetters: true,
      orderPerSubject: true,
      orderPerKey: server.supports("pinned-client"),
      brokerFilters: true,
      extendAck: true,
      requestReply: true,
      messageTtl: server.supports("msg-ttl"),
      // Also needs the domain provisioned with { schedules: true }; the stream's refusal says so.
      delayedDelivery: server.supports("msg-schedules"),
      atomicBatch: server.supports("atomic-batch"),
    };
  }

  /** At least once, what is missing is the server's age: say which release has it. */
  whyLacking(feature: keyof TransportFeatures, qos: QualityOfService): string | undefined {
    if (qos === "at-most-once") return undefined;
    const needs = SERVER_FEATURE[feature];
    return needs === undefined ? undefined : `needs nats-server ${FEATURES[needs].since} or later; this server is ${this.bus.server.version}`;
  }

  /** NATS_USE_JETSTREAM forces every event of the connection to one mode, as the seed's deployments expect. */
  effectiveQos(declared: QualityOfService): QualityOfService {
    const forced = this.bus.useJetStream;
    return forced === undefined ? declared : forced ? "at-least-once" : "at-most-once";
  }

  report(error: Error): void {
    this.bus.report(error);
  }

  /** The JetStream publisher's window, once JetStream is open (at most once publishes have none). */
  publishWindow(): PublishWindow | undefined {
    return this.bus.openJetStream?.publishWindow();
  }

  #subject(e: Pick<OutgoingEvent, "address">): string {
    return e.address.template.build(e.address.fields, this.bus.prefix);
  }

  async publish(e: OutgoingEvent): Promise<Receipt> {
    const subject = this.#subject(e);
    if (e.qos === "at-least-once") {
      const js = await this.bus.jetstream();
      return receiptOf(await js.publish(subject, e.data, jsOptions(e)), subject);
    }
    return { id: this.bus.publish(subject, e.data, e.attributes).id, subject, qos: "at-most-once" };
  }

  async publishBatch(events: readonly OutgoingEvent[], options: { readonly atomic?: boolean } = {}): Promise<BatchResult[]> {
    const stored = events.filter((e) => e.qos === "at-least-once");
    if (stored.length === 0) {
      return events.map((e): BatchResult => {
        try {
          const subject = this.#subject(e);
          return { ok: true, receipt: { id: this.bus.publish(subject, e.data, e.attributes).id, subject, qos: "at-most-once" } };
        } catch (error) {
          return { ok: false, error: error as Error };
        }
      });
    }
    if (stored.length !== events.length) throw new ConfigError("publishBatch", "a batch holds events of one quality of service");
    const js = await this.bus.jetstream();
    const subjects = events.map((e) => this.#subject(e));
    const results = await js.publishBatch(
      events.map((e, i) => ({ subject: subjects[i]!, data: e.data, event: jsOptions(e) })),
      options.atomic === true ? { atomic: true } : {},
    );
    return results.map((r, i): BatchResult => (r.ok ? { ok: true, receipt: receiptOf(r.ack, subjects[i]!) } : r));
  }

  async subscribe(spec: SubscriptionSpec, handler: DeliveryHandler): Promise<TransportSubscription> {
    const prefix = this.bus.prefix;
    const patterns = spec.events === "domain" ? undefined : spec.events.map((s) => templatePattern(s.template, s.filter ?? {}, prefix));
    if (spec.qos === "at-most-once") {
      if (patterns === undefined) throw new ConfigError("events", `an at-most-once subscription names its events: core NATS has no stream to hold "every event of ${spec.domain}"`);
      const queue = queueName(spec, patterns);
      const subs = await Promise.all(
        patterns.map((p) =>
          this.bus.subscribe(p, (m) => handler(new CoreDelivery(m)).then(settled), {
            queue,
            ...(spec.concurrency !== undefined ? { concurrency: spec.concurrency } : {}),
            ...(spec.onError !== undefined ? { onError: spec.onError } : {}),
          }),
        ),
      );
      return { stop: async () => void (await Promise.all(subs.map((s) => s.drain()))) };
    }
    const js = await this.bus.jetstream();
    const stream = js.domainStreamName(spec.domain);
    // Several patterns in one consumer need filter_subjects (2.10+); older servers get one consumer per pattern.
    const filters: Array<ConsumerSpec["filter"]> =
      patterns === undefined ? [undefined] : patterns.length === 1 ? [patterns[0]] : this.bus.server.supports("multi-filter") ? [patterns] : patterns;
    // The port's Delivery each JetStream message's latest handler run got, for the observer's settled(); only when it has one.
    const runs = new WeakMap<object, StoredDelivery>();
    const settledWanted = spec.observer?.settled !== undefined;
    const options: ConsumeOptions & PartitionedOptions = {
      ...(spec.concurrency !== undefined ? { concurrency: spec.concurrency } : {}),
      retry: { ...(spec.maxDeliveries !== undefined ? { maxDeliveries: spec.maxDeliveries } : {}), ...(spec.ackWaitMs !== undefined ? { ackWaitMs: spec.ackWaitMs } : {}) },
      ...(spec.onError !== undefined ? { onError: spec.onError } : {}),
      ...observerHooks(spec, runs),
    };
    const run = (m: DeliveredMessage): Promise<Outcome> => {
      const d = new StoredDelivery(m);
      // Durable and partitioned deliveries both wrap the JetStream Msg, which is what the consumer's onSettled names.
      if (settledWanted && m instanceof Inbound) runs.set(m.msg, d);
      return handler(d);
    };
    const consumers: Array<DurableConsumer | PartitionedConsumer> = [];
    try {
      for (const filter of filters) {
        const c = { stream, group: spec.group, ...(filter !== undefined ? { filter } : {}) };
        consumers.push(
          spec.orderBy === "key" ? await js.consumePartitioned(c, run, options) : await js.consume(c, run, { ...options, ...(spec.orderBy === "subject" ? { orderBy: "subject" } : {}) }),
        );
      }
    } catch (err) {
      await Promise.all(consumers.map((c) => c.stop()));
      throw err;
    }
    return {
      stop: async () => void (await Promise.all(consumers.map((c) => c.stop()))),
      lag: () => readLag(js.jsm, consumerPositions(stream, consumers)),
    };
  }

  async request(spec: RequestSpec): Promise<Reply> {
    const subject = spec.address.template.build(spec.address.fields, this.bus.prefix);
    const reply = await this.bus.request(subject, spec.data, { ...spec.attributes, timeoutMs: spec.timeoutMs });
    return { data: reply.data, headers: reply.headers };
  }

  async serve(spec: ServeSpec, handler: (request: CoreDelivery) => Promise<ServedReply>): Promise<TransportSubscription> {
    const sub = await this.bus.serve(templatePattern(spec.template, {}, this.bus.prefix), (m) => handler(new CoreDelivery(m)), {
      queue: spec.group,
      ...(spec.concurrency !== undefined ? { concurrency: spec.concurrency } : {}),
    });
    return { stop: () => sub.drain() };
  }

  provision(plan: DomainPlan): Promise<StreamProvisionResult[]> {
    return provisionDomain(this.bus, plan);
  }

  drain(): Promise<void> {
    return this.bus.drain();
  }

  close(): Promise<void> {
    return this.bus.close();
  }
}

/**
 * The queue group of an at-most-once subscription: the group, plus a hash of
 * its patterns when it filters by field values. A filtered subscription is
 * then a group of its own, as JetStream's durable consumers are (see
 * durableName): sharing the queue group with unfiltered members would hand
 * each matching event to only one of them.
 */
function queueName(spec: SubscriptionSpec, patterns: readonly string[]): string {
  const filtered = spec.events !== "domain" && spec.events.some((s) => s.filter !== undefined && Object.keys(s.filter).length > 0);
  return filtered ? durableName({ group: spec.group, filter: [...patterns] }) : spec.group;
}

/** The subscription observer as consumer options, guarded: a metrics bug must not stop a heartbeat loop or a settle. */
function observerHooks(spec: SubscriptionSpec, runs: WeakMap<object, StoredDelivery>): Pick<ConsumeOptions, "onHeartbeat" | "onSettled"> {
  const o = spec.observer;
  const hooks: { onHeartbeat?: (subject: string) => void; onSettled?: (m: JsDelivery) => void } = {};
  if (o?.heartbeat !== undefined) {
    hooks.onHeartbeat = (subject) => {
      try {
        o.heartbeat?.(subject);
      } catch {
        // the observer's problem; heartbeats go on
      }
    };
  }
  if (o?.settled !== undefined) {
    hooks.onSettled = (m) => {
      const d = runs.get(m.msg);
      if (d === undefined) return;
      runs.delete(m.msg);
      try {
        o.settled?.(d);
      } catch {
        // see above
      }
    };
  }
  return hooks;
}

/** At most once, every outcome ends the same way: the settling above the port has reported a failure already. */
const settled = (): void => undefined;

function jsOptions(e: OutgoingEvent): JetStreamPublishOptions {
  return {
    ...e.attributes,
    ...(e.ttlMs !== undefined ? { ttlMs: e.ttlMs } : {}),
    ...(e.deliverAt !== undefined ? { deliverAt: e.deliverAt } : {}),
  };
}
