import type { Bus } from "../connection/bus.js";
import { DecodeError, FeatureUnavailableError, SubjectError, UnknownEventError, describe } from "../errors.js";
import type { Headers } from "../messaging/headers.js";
import type { InboundMessage } from "../messaging/inbound.js";
import type { TokenValue } from "../messaging/subject.js";
import { SubjectTemplate } from "../messaging/subject.js";
import type { RetryPolicyInput } from "../jetstream/retry-policy.js";
import type { JetStream } from "../jetstream/client.js";
import type { ConsumerSpec, DeliveryHandler } from "../jetstream/consumer.js";
import type { Codec, EventDef, MessageOf, PartialOf } from "@cozebus/core";

export type Delivery = "core" | "jetstream";

/** What a handler learns besides the event itself. */
export interface EventContext {
  readonly subject: string;
  /** The event's id (ce-id): the key for idempotent handlers. */
  readonly id: string;
  readonly type: string;
  readonly time: Date | undefined;
  readonly headers: Headers;
  /** 1 on first delivery (core NATS: always 1). */
  readonly attempt: number;
  /** The subject's template fields, e.g. `{ workflow_id: "wf_1" }`. */
  readonly fields: Readonly<Record<string, string>>;
}

export interface PublishOptions {
  /** Reuse only to resend the same event. */
  readonly id?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly traceparent?: string;
  readonly time?: Date;
  /** At-least-once events only: the stream deletes the event after this long (nats-server 2.11+; >= 1000, whole seconds). */
  readonly ttlMs?: number;
  /** At-least-once events only: delivered at this time, not before (nats-server 2.12+ message schedules; whole seconds). */
  readonly deliverAt?: Date;
}

export interface PublishBatchCallOptions {
  /** All events stored, or none (nats-server 2.12+, at-least-once events, at most 1000). */
  readonly atomic?: boolean;
}

/** One result per event of a batch, in order. */
export type BatchReceipt = { readonly ok: true; readonly receipt: PublishReceipt } | { readonly ok: false; readonly error: Error };

export interface PublishReceipt {
  readonly id: string;
  readonly subject: string;
  readonly delivery: Delivery;
  /** JetStream only: where it was stored. */
  readonly stream?: string;
  readonly seq?: number;
  readonly duplicate?: boolean;
}

export interface EventSubscribeOptions<F extends string = string> {
  /** Group: instances with the same group share the events (queue group / durable consumer). */
  readonly group: string;
  /** Only events whose subject fields have these values (omitted = any). */
  readonly filter?: Partial<Readonly<Record<F, TokenValue>>>;
  readonly concurrency?: number;
  /** JetStream only. */
  readonly retry?: RetryPolicyInput;
  /**
   * At-least-once events only. "subject": events of one subject (one entity)
   * are handled one at a time, in stream order, within each instance — with
   * several instances of the group, events of one subject can interleave
   * across them. "key": the same order across every instance of the group
   * (partitioned consumers with pinned clients, nats-server 2.11+; refused
   * with FeatureUnavailableError before).
   */
  readonly orderBy?: "subject" | "key";
}

/** One durable subscription of a group: per-instance (consume) or, for orderBy "key", partitioned across instances. */
export async function consumeDurable(
  js: JetStream,
  spec: ConsumerSpec,
  handler: DeliveryHandler,
  options: Pick<EventSubscribeOptions, "concurrency" | "retry" | "orderBy">,
): Promise<{ stop(): Promise<void> }> {
  const common = {
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    ...(options.retry !== undefined ? { retry: options.retry } : {}),
  };
  if (options.orderBy === "key") return js.consumePartitioned(spec, handler, common);
  return js.consume(spec, handler, { ...common, ...(options.orderBy !== undefined ? { orderBy: options.orderBy } : {}) });
}

export interface EventSubscription {
  stop(): Promise<void>;
}

export type FieldNamesOf<E extends EventDef> = E["fields"][keyof E["fields"]] & string;

/** Effective delivery: the connection's NATS_USE_JETSTREAM wins over the schema's default. */
export function deliveryOf(bus: Bus, def: EventDef): Delivery {
  const forced = bus.useJetStream;
  return forced === undefined ? (def.qos === "at-least-once" ? "jetstream" : "core") : forced ? "jetstream" : "core";
}

/** Decodes one delivery; undecodable bytes become a DecodeError (dead letter / error hook), never a handler call. */
export function decodeEvent<C extends Codec<unknown>>(def: EventDef<C>, m: InboundMessage): MessageOf<C> {
  try {
    return def.codec.decode(m.data) as MessageOf<C>;
  } catch (err) {
    throw new DecodeError(m.subject, `${def.type}: ${describe(err)}`, { cause: err });
  }
}

export function contextOf(m: InboundMessage, template: SubjectTemplate, prefix: string, attempt: number, fallbackType: string): EventContext {
  const e = m.event;
  return {
    subject: m.subject,
    id: e?.id ?? "",
    type: e?.type ?? fallbackType,
    time: e?.time,
    headers: m.headers,
    attempt,
    fields: template.match(m.subject, prefix) ?? {},
  };
}

/**
 * One typed event of a domain: publish fills the subject from the message,
 * validates it, encodes it and sends it the way the schema says; subscribe
 * decodes and hands the typed message to the handler.
 */
export class EventClient<E extends EventDef> {
  readonly template: SubjectTemplate;

  constructor(
    private readonly bus: Bus,
    readonly domain: string,
    readonly def: E,
  ) {
    this.template = SubjectTemplate.parse(def.subject);
  }

  /** The delivery this connection uses for the event. */
  get delivery(): Delivery {
    return deliveryOf(this.bus, this.def);
  }

  #values(message: MessageOf<E["codec"]>): Record<string, TokenValue | undefined> {
    const out: Record<string, TokenValue | undefined> = {};
    const m = message as Record<string, unknown>;
    for (const [field, prop] of Object.entries(this.def.fields)) out[field] = m[prop] as TokenValue | undefined;
    return out;
  }

  /** The subject this message would be published on (validated). */
  subjectFor(event: PartialOf<E["codec"]>): string {
    return this.bus.subject(this.template, this.#values(this.def.codec.fromPartial(event) as MessageOf<E["codec"]>));
  }

  /**
   * Publishes the event. Accepts a partial message (unset fields take their
   * defaults) so adding a field to the schema never breaks a caller. A
   * subject field left empty is an error here, before anything is sent.
   */
  async publish(event: PartialOf<E["codec"]>, options: PublishOptions = {}): Promise<PublishReceipt> {
    const { subject, data } = this.#encode(event);
    const attrs = { type: this.def.type, ...options };
    if (this.delivery === "jetstream") {
      const js = await this.bus.jetstream();
      const ack = await js.publish(subject, data, attrs);
      return { id: ack.id, subject, delivery: "jetstream", stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
    }
    this.#refuseOnCore(options);
    const sent = this.bus.publish(subject, data, attrs);
    return { id: sent.id, subject, delivery: "core" };
  }

  /**
   * Publishes several events of this type; one result per event, in order,
   * never a rejection for a single event's failure. `{ atomic: true }`:
   * every event is stored or none (at-least-once events, nats-server 2.12+).
   */
  async publishBatch(events: ReadonlyArray<PartialOf<E["codec"]>>, options: PublishBatchCallOptions = {}): Promise<BatchReceipt[]> {
    const encoded = events.map((e) => this.#encode(e));
    if (this.delivery !== "jetstream") {
      if (options.atomic === true) throw new FeatureUnavailableError("atomic-batch", `${this.def.type} is delivered at most once (core NATS): nothing is stored, so a batch cannot be atomic`);
      return encoded.map(({ subject, data }): BatchReceipt => {
        try {
          return { ok: true, receipt: { id: this.bus.publish(subject, data, { type: this.def.type }).id, subject, delivery: "core" } };
        } catch (error) {
          return { ok: false, error: error as Error };
        }
      });
    }
    const js = await this.bus.jetstream();
    const results = await js.publishBatch(encoded.map(({ subject, data }) => ({ subject, data, event: { type: this.def.type } })), options);
    return results.map((r, i): BatchReceipt =>
      r.ok ? { ok: true, receipt: { id: r.ack.id, subject: encoded[i]!.subject, delivery: "jetstream", stream: r.ack.stream, seq: r.ack.seq, duplicate: r.ack.duplicate } } : r,
    );
  }

  #encode(event: PartialOf<E["codec"]>): { subject: string; data: Uint8Array } {
    const message = this.def.codec.fromPartial(event) as MessageOf<E["codec"]>;
    return { subject: this.bus.subject(this.template, this.#values(message)), data: this.def.codec.encode(message).finish() };
  }

  /** Core NATS stores nothing: an option that needs storage is refused, never dropped. */
  #refuseOnCore(options: PublishOptions): void {
    const wanted = (["ttlMs", "deliverAt"] as const).filter((k) => options[k] !== undefined);
    if (wanted.length > 0) {
      throw new FeatureUnavailableError(wanted[0] === "ttlMs" ? "msg-ttl" : "msg-schedules", `${wanted.join(" and ")} need at-least-once delivery; ${this.def.type} is delivered at most once (core NATS) on this connection`);
    }
  }

  /** Subscribes with a typed handler. Resolves once events are flowing to it. */
  async subscribe(
    handler: (event: MessageOf<E["codec"]>, ctx: EventContext) => void | Promise<void>,
    options: EventSubscribeOptions<FieldNamesOf<E>>,
  ): Promise<EventSubscription> {
    const filter: Record<string, TokenValue | undefined> = {};
    const byProp = new Map(Object.entries(this.def.fields).map(([field, prop]) => [prop, field]));
    for (const [prop, value] of Object.entries(options.filter ?? {})) {
      const field = byProp.get(prop);
      if (field === undefined) throw new SubjectError(`filter "${prop}" is not a subject field of ${this.def.type} (fields: ${[...byProp.keys()].join(", ")})`, prop);
      filter[field] = value as TokenValue | undefined;
    }
    const pattern = this.bus.pattern(this.template, filter);
    const prefix = this.bus.prefix;
    const run = (m: InboundMessage, attempt: number): void | Promise<void> => {
      // Same subject, another type (a foreign or newer publisher): decoding it with this codec would be a guess.
      if (m.event?.type !== undefined && m.event.type !== this.def.type) throw new UnknownEventError(m.subject, m.event.type, `this subscription handles ${this.def.type}`);
      return handler(decodeEvent(this.def, m) as MessageOf<E["codec"]>, contextOf(m, this.template, prefix, attempt, this.def.type));
    };
    if (this.delivery === "jetstream") {
      const js = await this.bus.jetstream();
      const consumer = await consumeDurable(js, { stream: js.domainStreamName(this.domain), group: options.group, filter: pattern }, (m) => run(m, m.delivery.attempt), options);
      return { stop: () => consumer.stop() };
    }
    if (options.orderBy === "key") {
      throw new FeatureUnavailableError("pinned-client", `orderBy "key" needs at-least-once delivery; ${this.def.type} is delivered at most once (core NATS) on this connection`);
    }
    const sub = await this.bus.subscribe(pattern, (m) => run(m, 1), {
      queue: options.group,
      ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    });
    return { stop: () => sub.drain() };
  }
}
