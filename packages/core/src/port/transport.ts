/**
 * The transport port: the one interface between the typed layer (events,
 * operations, domain clients, policies) and a broker. A transport package
 * (`@cozebus/nats`, `@cozebus/pulsar`) implements it and is the only place
 * that imports a broker client. Nothing here names a subject wildcard, a
 * stream, a topic URL or an ack subject.
 */
import type { SubjectTemplate } from "../subject/template.js";

/** What the schema asks of an event's delivery. */
export type QualityOfService = "at-most-once" | "at-least-once";

/**
 * Features a transport declares, per quality of service. The typed layer uses
 * them, emulates them above the port, or refuses with FeatureUnavailableError
 * naming the feature: never a silent no-op.
 */
export interface TransportFeatures {
  /** The group's position survives restarts; events published while nobody listens are kept. */
  readonly durable: boolean;
  /** An outcome `{ type: "retry", delayMs }` redelivers the event after about that delay. */
  readonly redelivery: boolean;
  /** An outcome `{ type: "dead-letter" }` keeps the event, with the reason, where operators can list and replay it. */
  readonly deadLetters: boolean;
  /** `orderBy: "subject"`: one subject's events handled one at a time, in order, within one instance. */
  readonly orderPerSubject: boolean;
  /** `orderBy: "key"`: one key's events in order across every instance of a group. */
  readonly orderPerKey: boolean;
  /** Field filters are applied by the broker (otherwise the typed layer filters, and acks what it skips). */
  readonly brokerFilters: boolean;
  /** `working()` on a delivery keeps a long handler's event from being redelivered. */
  readonly extendAck: boolean;
  /** `request` / `serve`. */
  readonly requestReply: boolean;
  /** `ttlMs` on publish. */
  readonly messageTtl: boolean;
  /** `deliverAt` on publish. */
  readonly delayedDelivery: boolean;
  /** `publishBatch(..., { atomic: true })`. */
  readonly atomicBatch: boolean;
}

/** Where an event goes, in schema terms; each transport maps it to its own destination. */
export interface EventAddress {
  /** `workflow`, `agent`, `knowledge`. */
  readonly domain: string;
  /** The schema's subject template, e.g. `coze.workflow.{workflow_id}.started`. */
  readonly template: SubjectTemplate;
  /** The template's field values, already validated as subject tokens. */
  readonly fields: Readonly<Record<string, string>>;
}

/** The CloudEvents attributes a publisher gives; everything but `type` has a default. */
export interface OutgoingAttributes {
  /** Full proto name, e.g. `coze.workflow.v1.WorkflowExecutionStarted` (ce-type). */
  readonly type: string;
  /** Unique id (ce-id), generated when omitted; reuse one only to resend the same event. */
  readonly id?: string;
  readonly source?: string;
  readonly time?: Date;
  readonly contentType?: string;
  readonly traceparent?: string;
  readonly tracestate?: string;
  /** Application headers / properties; the wire contract's names are reserved. */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface OutgoingEvent {
  readonly address: EventAddress;
  readonly data: Uint8Array;
  readonly attributes: OutgoingAttributes;
  readonly qos: QualityOfService;
  /** Needs `messageTtl`: the broker deletes the event after this long. */
  readonly ttlMs?: number;
  /** Needs `delayedDelivery`: delivered at this time, not before. */
  readonly deliverAt?: Date;
}

export interface Receipt {
  readonly id: string;
  /** The concrete subject (dotted, under the transport's root). */
  readonly subject: string;
  readonly qos: QualityOfService;
  /** The broker recognised the id as already stored (deduplicated). */
  readonly duplicate?: boolean;
  /** Where the broker stored it, in its own words (`COZE_WORKFLOW#42`, a Pulsar message id); for logs and operators. */
  readonly position?: string;
}

export type BatchResult = { readonly ok: true; readonly receipt: Receipt } | { readonly ok: false; readonly error: Error };

/** A read-only view of a delivery's headers (NATS) or properties (Pulsar), so handlers never see a client library's types. */
export interface Headers {
  /** First value of a header, matched case-insensitively. */
  get(name: string): string | undefined;
  has(name: string): boolean;
  /** Every header name with all its values. */
  entries(): Array<[string, string[]]>;
}

/** The event attributes read back from a delivery. */
export interface EventMeta {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  readonly time: Date | undefined;
  readonly contentType: string;
  readonly traceparent: string | undefined;
}

/** One event handed to a subscription's handler. */
export interface Delivery {
  /** The concrete subject (dotted, under the transport's root); template fields are read back from it. */
  readonly subject: string;
  readonly data: Uint8Array;
  /** Headers (NATS) or properties (Pulsar). */
  readonly headers: Headers;
  /** CloudEvents attributes; undefined when the sender set none (not a cozebus event). */
  readonly event: EventMeta | undefined;
  /** 1 on first delivery; at-most-once transports always say 1. */
  readonly attempt: number;
  /** Identifies this stored event across its redeliveries (dedupe key), in the broker's words. */
  readonly position: string | undefined;
  /** Still working: keeps a long handler's event from being redelivered (a no-op without `extendAck`). */
  working(): void;
}

/** What happens to a delivery after its handler ran; the transport carries it out. */
export type Outcome =
  | { readonly type: "ack" }
  | { readonly type: "retry"; readonly delayMs: number; readonly error?: unknown }
  | { readonly type: "dead-letter"; readonly reason: DeadLetterReason; readonly error?: unknown };

/** Why an event was dead-lettered. */
export type DeadLetterReason = "max-deliveries" | "non-retryable" | "undecodable" | "unknown-event" | "abandoned";

export type DeliveryHandler = (delivery: Delivery) => Promise<Outcome>;

/** Which events of a domain a subscription takes. */
export interface EventSelector {
  readonly template: SubjectTemplate;
  /** Fixed field values (validated tokens); omitted fields match any value. */
  readonly filter?: Readonly<Record<string, string>>;
}

export interface SubscriptionSpec {
  readonly domain: string;
  /** Instances with the same group share the events. */
  readonly group: string;
  readonly qos: QualityOfService;
  /** The events; `"domain"`: every event of the domain, including ones this build does not know. */
  readonly events: readonly EventSelector[] | "domain";
  /** Handlers running at once in this instance (default 1). */
  readonly concurrency?: number;
  readonly orderBy?: "subject" | "key";
  /** Deliveries before the broker stops redelivering (at-least-once); the policy above dead-letters at this count. */
  readonly maxDeliveries?: number;
  /** How long the broker waits for an outcome before redelivering (at-least-once). */
  readonly ackWaitMs?: number;
  readonly onError?: (error: Error) => void;
  /** Told about work the transport does on its own for this subscription (metrics); optional both ways. */
  readonly observer?: SubscriptionObserver;
}

/**
 * What a transport does for a subscription without the handler asking, for
 * an observer such as `@cozebus/otel` to count. Every member is optional: a
 * transport calls those it has, and one with nothing to tell ignores the
 * observer. Calls are synchronous and must be cheap; a throw is ignored.
 */
export interface SubscriptionObserver {
  /**
   * An in-progress heartbeat (JetStream `+WPI`) was sent for a delivery on
   * `subject` that this instance holds (its handler running, or queued to
   * run), so the broker does not redeliver it while it waits.
   */
  heartbeat?(subject: string): void;
  /**
   * The outcome the handler returned for `delivery` (the object the handler
   * got) was carried out: an ack or nak written (confirmed, where the
   * transport waits for the broker's confirmation), a dead letter stored and
   * the original terminated, or an in-place retry about to wait out its
   * delay. Called at most once per handler run.
   */
  settled?(delivery: Delivery): void;
}

/** A group's backlog on one broker destination, as the broker counts it. */
export interface GroupLag {
  /** Where the group reads, in the broker's words: the JetStream stream, the Pulsar topic. */
  readonly destination: string;
  /** The broker's name for the group's position: the durable consumer, the Pulsar subscription. */
  readonly consumer: string;
  /** Stored events the group has not been delivered yet (Pulsar: the whole backlog, unacknowledged deliveries included). */
  readonly pending: number;
  /** Delivered to the group and not yet settled. */
  readonly ackPending: number;
  /** Of those delivered and not settled, the ones delivered more than once; undefined where the broker does not count it. */
  readonly redelivered?: number;
}

export interface TransportSubscription {
  /** Stops taking events, lets the ones in progress finish, then carries out their outcomes. */
  stop(): Promise<void>;
  /**
   * Optional: asks the broker for the group's backlog now (one entry per
   * destination the subscription reads). A broker round trip: poll it at an
   * interval (the otel decorator does), not per event.
   */
  lag?(): Promise<readonly GroupLag[]>;
}

export interface Reply {
  readonly data: Uint8Array;
  readonly headers: Headers;
}

export interface RequestSpec {
  readonly address: EventAddress;
  readonly data: Uint8Array;
  readonly attributes: OutgoingAttributes;
  readonly timeoutMs: number;
}

export interface ServeSpec {
  readonly domain: string;
  readonly template: SubjectTemplate;
  /** Instances with the same group share the requests. */
  readonly group: string;
  readonly concurrency?: number;
}

/** A request handler's answer; throw ServiceError(status, message) for a typed failure. */
export interface ServedReply {
  readonly data: Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * How much a domain's stored events may take. Each transport maps what it
 * can (NATS: stream limits; Pulsar: retention) and refuses what it cannot.
 */
export interface RetentionLimits {
  /** How long events are kept (default 7 days). */
  readonly maxAgeMs: number;
  /** Size cap (default 1 GiB). */
  readonly maxBytes: number;
  /** Event count cap, -1 for none (default -1). */
  readonly maxMsgs: number;
  /** Largest accepted event (default 1 MiB). */
  readonly maxMsgSize: number;
  /** Window in which a repeated event id is dropped as a duplicate (default 2 min). */
  readonly duplicateWindowMs: number;
  /** What happens when full: "new" refuses publishes (default), "old" deletes the oldest events. */
  readonly discard: "new" | "old";
  /** "file" (default) or "memory". */
  readonly storage: "file" | "memory";
}

export interface ProvisionOptions {
  readonly limits?: Partial<RetentionLimits>;
  /**
   * Delayed publishes (`deliverAt`). On NATS (2.12+ message schedules) they
   * need `discard: "old"` in the limits, so they are off by default there:
   * a full stream should refuse new events loudly rather than drop old ones.
   */
  readonly schedules?: boolean;
}

/** What a domain needs from the broker before it publishes (streams, topics, ...). */
export interface DomainPlan extends ProvisionOptions {
  readonly domain: string;
  readonly events: ReadonlyArray<{ readonly template: SubjectTemplate; readonly qos: QualityOfService; readonly type: string }>;
  /** Request/reply subjects: never captured by anything that stores events. */
  readonly operations: readonly SubjectTemplate[];
  /** `<package>@<version>` of the build provisioning it. */
  readonly build?: string;
}

/** One broker resource provisioning looked at. */
export interface ProvisionResult {
  /** `stream COZE_WORKFLOW`, `topic persistent://public/default/coze.workflow.started`. */
  readonly resource: string;
  readonly action: "created" | "updated" | "unchanged";
  /** What was kept as found because another build may need it (additive provisioning). */
  readonly conflicts: readonly string[];
}

/** See Transport.publishWindow. */
export interface PublishWindow {
  readonly inFlight: number;
  /** The highest `inFlight` since the previous publishWindow() call (one reader is assumed: the metrics one). */
  readonly peak: number;
  readonly capacity: number;
}

export interface Transport {
  /** `nats`, `pulsar`: goes into `messaging.system` and error messages. */
  readonly name: string;
  /** The subject root (default `coze`): templates' first token is replaced by it. */
  readonly subjectRoot: string;
  features(qos: QualityOfService): TransportFeatures;
  /**
   * Why a feature `features(qos)` declares false is missing here, in the
   * transport's words (`needs nats-server 2.11.0 or later; this server is
   * 2.9.10`), for the typed layer's refusal; undefined: the generic reason.
   */
  whyLacking?(feature: keyof TransportFeatures, qos: QualityOfService): string | undefined;
  /** The quality of service this transport gives an event the schema declares with `declared` (e.g. NATS_USE_JETSTREAM forces one). */
  effectiveQos(declared: QualityOfService): QualityOfService;

  publish(event: OutgoingEvent): Promise<Receipt>;
  /** One result per event, in order; a single event's failure is its result, never a rejection. */
  publishBatch(events: readonly OutgoingEvent[], options?: { readonly atomic?: boolean }): Promise<BatchResult[]>;
  subscribe(spec: SubscriptionSpec, handler: DeliveryHandler): Promise<TransportSubscription>;

  request(spec: RequestSpec): Promise<Reply>;
  serve(spec: ServeSpec, handler: (request: Delivery) => Promise<ServedReply>): Promise<TransportSubscription>;

  /** Creates or additively updates what the domain needs; never removes what another build may use. */
  provision(plan: DomainPlan): Promise<ProvisionResult[]>;

  /**
   * Optional: the publish window, when the transport pipelines acknowledged
   * publishes (NATS JetStream): how many await their broker ack now, the most
   * that did at once since the previous call (a burst between two reads is
   * seen), and how many may at once. Undefined while no window is open.
   */
  publishWindow?(): PublishWindow | undefined;

  /** The connection's error hook: where failures nobody awaits (a handler's, a background task's) are reported. */
  report(error: Error): void;

  /** Lets in-flight handlers finish, then closes. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/** Anything a domain client can run on: a transport, or a connection that has one (`Bus`). */
export type TransportLike = Transport | { readonly transport: Transport };

export function transportOf(t: TransportLike): Transport {
  return "transport" in t ? t.transport : t;
}
