import { FeatureUnavailableError, SubjectError, UnknownEventError } from "../errors.js";
import type { BatchResult, Delivery, EventAddress, OutgoingEvent, QualityOfService, Receipt, Transport, TransportFeatures } from "../port/transport.js";
import { retryPolicy, type RetryPolicyInput } from "../policy/retry-policy.js";
import { SubjectTemplate, checkToken, type TokenValue } from "../subject/template.js";
import { contextOf, decodeEvent, type EventContext } from "./context.js";
import type { EventDef, MessageOf, PartialOf } from "./define.js";
import { handlerFor, type IdempotencyOptions } from "./settle.js";

export interface PublishOptions {
  /** Reuse only to resend the same event. */
  readonly id?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly traceparent?: string;
  readonly time?: Date;
  /** The broker deletes the event after this long (needs the transport's `messageTtl`: NATS JetStream on nats-server 2.11+, whole seconds >= 1). */
  readonly ttlMs?: number;
  /** Delivered at this time, not before (needs `delayedDelivery`: nats-server 2.12+ schedules, Pulsar). */
  readonly deliverAt?: Date;
}

export interface PublishBatchCallOptions {
  /** All events stored, or none (needs `atomicBatch`: nats-server 2.12+, at most 1000). */
  readonly atomic?: boolean;
}

export type { Receipt as PublishReceipt } from "../port/transport.js";
/** One result per event of a batch, in order. */
export type BatchReceipt = BatchResult;

export interface EventSubscribeOptions<F extends string = string> {
  /** Group: instances with the same group share the events. */
  readonly group: string;
  /** Only events whose subject fields have these values (omitted = any). */
  readonly filter?: Partial<Readonly<Record<F, TokenValue>>>;
  readonly concurrency?: number;
  /** At-least-once events only: deliveries, backoff and ack wait. Refused for at-most-once events (nothing is redelivered). */
  readonly retry?: RetryPolicyInput;
  /**
   * At-least-once events only. "subject": events of one subject (one entity)
   * are handled one at a time, in order, within each instance. "key": the
   * same order across every instance of the group (needs the transport's
   * `orderPerKey`: NATS JetStream on nats-server 2.11+, Pulsar Key_Shared).
   */
  readonly orderBy?: "subject" | "key";
  /** Where handler failures are reported (default: the transport's error hook). */
  readonly onError?: (error: Error) => void;
  /**
   * At-least-once events only: handle each event id at most once per group
   * across replicas and restarts (an inbox: `PostgresInboxStore`,
   * `NatsKvInboxStore`). See docs/effectively-once.md.
   */
  readonly idempotency?: IdempotencyOptions;
}

export interface EventSubscription {
  stop(): Promise<void>;
}

export type FieldNamesOf<E extends EventDef> = E["fields"][keyof E["fields"]] & string;

/** Refuses a subscribe option the transport cannot carry out for this quality of service: never a silent no-op. */
export function checkSubscribeOptions(transport: Transport, qos: QualityOfService, what: string, options: Pick<EventSubscribeOptions, "retry" | "orderBy" | "idempotency">): void {
  const f = transport.features(qos);
  const refuse = (feature: string, option: string, why: string, lacking?: keyof TransportFeatures): never => {
    const own = lacking === undefined ? undefined : transport.whyLacking?.(lacking, qos);
    throw new FeatureUnavailableError(feature, own !== undefined ? `${option} ${own}` : `${option} needs ${why}; ${what} is delivered ${qos} on ${transport.name} here`);
  };
  if (options.retry !== undefined && !f.redelivery) refuse("redelivery", "retry", "redelivery (at-least-once delivery)");
  // An inbox answers "seen this id" with a retry (another replica holds it) or an ack: both need a redelivering broker.
  if (options.idempotency !== undefined && !f.redelivery) refuse("idempotency", "idempotency", "at-least-once delivery (an inbox retries an id another replica is handling)");
  if (options.orderBy === "subject" && !f.orderPerSubject) refuse("order-per-subject", 'orderBy "subject"', "ordered at-least-once delivery");
  if (options.orderBy === "key" && !f.orderPerKey) refuse("order-per-key", 'orderBy "key"', qos === "at-least-once" ? `per-key order across instances, which ${transport.name} lacks here` : "at-least-once delivery with per-key order", "orderPerKey");
}

/** Reads a filter given by message property names into validated template field values. */
export function filterFields(def: EventDef, filter: Readonly<Record<string, unknown>> | undefined): Record<string, string> | undefined {
  if (filter === undefined) return undefined;
  const byProp = new Map(Object.entries(def.fields).map(([field, prop]) => [prop, field]));
  const out: Record<string, string> = {};
  for (const [prop, value] of Object.entries(filter)) {
    const field = byProp.get(prop);
    if (field === undefined) throw new SubjectError(`filter "${prop}" is not a subject field of ${def.type} (fields: ${[...byProp.keys()].join(", ")})`, prop);
    if (value !== undefined) out[field] = checkToken(field, value, def.subject);
  }
  return out;
}

function matches(fields: Readonly<Record<string, string>> | undefined, filter: Readonly<Record<string, string>>): boolean {
  if (fields === undefined) return false;
  for (const [k, v] of Object.entries(filter)) if (fields[k] !== v) return false;
  return true;
}

/**
 * One typed event of a domain: publish fills the subject fields from the
 * message, validates them, encodes it and hands it to the transport at the
 * schema's quality of service; subscribe decodes and hands the typed message
 * to the handler, and turns what the handler does into an outcome.
 */
export class EventClient<E extends EventDef> {
  readonly template: SubjectTemplate;
  readonly #transport: Transport;

  constructor(
    transport: Transport,
    readonly domain: string,
    readonly def: E,
  ) {
    this.#transport = transport;
    this.template = SubjectTemplate.parse(def.subject);
  }

  /** The quality of service this transport gives the event (the schema's, unless the connection forces one). */
  get qos(): QualityOfService {
    return this.#transport.effectiveQos(this.def.qos);
  }

  /** What the transport can do for this event. */
  get features(): TransportFeatures {
    return this.#transport.features(this.qos);
  }

  #address(message: Record<string, unknown>): EventAddress {
    const fields: Record<string, string> = {};
    for (const [field, prop] of Object.entries(this.def.fields)) fields[field] = checkToken(field, message[prop], this.def.subject);
    return { domain: this.domain, template: this.template, fields };
  }

  /** The subject this message would be published on (validated). */
  subjectFor(event: PartialOf<E["codec"]>): string {
    return this.template.build(this.#address(this.def.codec.fromPartial(event) as Record<string, unknown>).fields, this.#transport.subjectRoot);
  }

  #outgoing(event: PartialOf<E["codec"]>, options: PublishOptions, qos: QualityOfService): OutgoingEvent {
    const message = this.def.codec.fromPartial(event) as MessageOf<E["codec"]>;
    const address = this.#address(message as Record<string, unknown>);
    const attributes = {
      type: this.def.type,
      ...(options.id !== undefined ? { id: options.id } : {}),
      ...(options.time !== undefined ? { time: options.time } : {}),
      ...(options.traceparent !== undefined ? { traceparent: options.traceparent } : {}),
      ...(options.headers !== undefined ? { headers: options.headers } : {}),
    };
    return {
      address,
      data: this.def.codec.encode(message).finish(),
      attributes,
      qos,
      ...(options.ttlMs !== undefined ? { ttlMs: options.ttlMs } : {}),
      ...(options.deliverAt !== undefined ? { deliverAt: options.deliverAt } : {}),
    };
  }

  /**
   * The event as the port publishes it (subject fields validated, message
   * encoded, id fixed when given), without sending it: what an outbox
   * stores in the caller's transaction for a relay to publish later
   * (`PostgresOutbox.enqueue(tx, wf.executionStarted.prepare({...}))`).
   */
  prepare(event: PartialOf<E["codec"]>, options: Pick<PublishOptions, "id" | "headers" | "traceparent" | "time"> = {}): OutgoingEvent {
    return this.#outgoing(event, options, this.qos);
  }

  /** An option that needs what the transport lacks for this event is refused, never dropped. */
  #checkPublish(options: PublishOptions, qos: QualityOfService): void {
    if (options.ttlMs === undefined && options.deliverAt === undefined) return;
    const f = this.#transport.features(qos);
    const own = (feature: keyof TransportFeatures, option: string): string | undefined => {
      const why = this.#transport.whyLacking?.(feature, qos);
      return why === undefined ? undefined : `${option} ${why}`;
    };
    if (options.ttlMs !== undefined && !f.messageTtl) {
      throw new FeatureUnavailableError("msg-ttl", own("messageTtl", "publish with ttlMs") ?? `ttlMs needs per-event expiry (NATS JetStream on nats-server 2.11+); ${this.def.type} is delivered ${qos} on ${this.#transport.name} here`);
    }
    if (options.deliverAt !== undefined && !f.delayedDelivery) {
      throw new FeatureUnavailableError("msg-schedules", own("delayedDelivery", "publish with deliverAt") ?? `deliverAt needs delayed delivery (NATS JetStream on nats-server 2.12+ with schedules provisioned, or Pulsar); ${this.def.type} is delivered ${qos} on ${this.#transport.name} here`);
    }
  }

  /**
   * Publishes the event. Accepts a partial message (unset fields take their
   * defaults) so adding a field to the schema never breaks a caller. A
   * subject field left empty is an error here, before anything is sent.
   */
  async publish(event: PartialOf<E["codec"]>, options: PublishOptions = {}): Promise<Receipt> {
    const qos = this.qos;
    this.#checkPublish(options, qos);
    return this.#transport.publish(this.#outgoing(event, options, qos));
  }

  /**
   * Publishes several events of this type; one result per event, in order,
   * never a rejection for a single event's failure (a bad message is its
   * own failed result). `{ atomic: true }`: every event is stored or none.
   */
  async publishBatch(events: ReadonlyArray<PartialOf<E["codec"]>>, options: PublishBatchCallOptions = {}): Promise<BatchReceipt[]> {
    const qos = this.qos;
    if (options.atomic === true && !this.#transport.features(qos).atomicBatch) {
      const own = this.#transport.whyLacking?.("atomicBatch", qos);
      if (own !== undefined) throw new FeatureUnavailableError("atomic-batch", `publishBatch with atomic: true ${own}`);
      throw new FeatureUnavailableError("atomic-batch", `an atomic batch needs a broker that stores a batch all or nothing (NATS JetStream on nats-server 2.12+); ${this.def.type} is delivered ${qos} on ${this.#transport.name} here`);
    }
    const results: Array<BatchReceipt | undefined> = [];
    const outgoing: OutgoingEvent[] = [];
    const at: number[] = [];
    for (const [i, e] of events.entries()) {
      try {
        outgoing.push(this.#outgoing(e, {}, qos));
        at.push(i);
        results.push(undefined);
      } catch (error) {
        if (options.atomic === true) throw error; // all or nothing: a bad event stops the batch before anything is sent
        results.push({ ok: false, error: error as Error });
      }
    }
    const sent = await this.#transport.publishBatch(outgoing, options.atomic === true ? { atomic: true } : {});
    sent.forEach((r, j) => (results[at[j]!] = r));
    return results as BatchReceipt[];
  }

  /** Subscribes with a typed handler. Resolves once events are flowing to it. */
  async subscribe(handler: (event: MessageOf<E["codec"]>, ctx: EventContext) => void | Promise<void>, options: EventSubscribeOptions<FieldNamesOf<E>>): Promise<EventSubscription> {
    const qos = this.qos;
    checkSubscribeOptions(this.#transport, qos, this.def.type, options);
    const filter = filterFields(this.def, options.filter);
    const root = this.#transport.subjectRoot;
    const policy = retryPolicy(options.retry);
    // A broker that cannot filter by field: the typed layer does, and acks what the filter skips
    // (the subscription is this group's alone, so a skipped event is nobody else's to handle).
    const skip = filter !== undefined && !this.#transport.features(qos).brokerFilters ? filter : undefined;
    const run = (d: Delivery): void | Promise<void> => {
      if (skip !== undefined && !matches(this.template.match(d.subject, root), skip)) return;
      // Same subject, another type (a foreign or newer publisher): decoding it with this codec would be a guess.
      if (d.event?.type !== undefined && d.event.type !== this.def.type) throw new UnknownEventError(d.subject, d.event.type, `this subscription handles ${this.def.type}`);
      return handler(decodeEvent(this.def, d) as MessageOf<E["codec"]>, contextOf(d, this.template, root, this.def.type));
    };
    const report = options.onError ?? ((e: Error) => this.#transport.report(e));
    return this.#transport.subscribe(
      {
        domain: this.domain,
        group: options.group,
        qos,
        events: [{ template: this.template, ...(filter !== undefined ? { filter } : {}) }],
        ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
        ...(options.orderBy !== undefined ? { orderBy: options.orderBy } : {}),
        ...(qos === "at-least-once" ? { maxDeliveries: policy.maxDeliveries, ackWaitMs: policy.ackWaitMs } : {}),
        onError: report,
      },
      handlerFor(run, qos, policy, report, options),
    );
  }
}
