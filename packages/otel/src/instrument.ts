import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  defaultTextMapSetter,
  isSpanContextValid,
  metrics,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Link,
  type MeterProvider,
  type Span,
  type TextMapGetter,
  type TextMapPropagator,
  type Tracer,
  type TracerProvider,
} from "@opentelemetry/api";
import { ConfigError, transportOf, type SubjectTemplate } from "@cozebus/core";
import type {
  BatchResult,
  Delivery,
  DeliveryHandler,
  DomainPlan,
  Headers,
  OutgoingAttributes,
  OutgoingEvent,
  Outcome,
  ProvisionResult,
  QualityOfService,
  Receipt,
  Reply,
  RequestSpec,
  ServeSpec,
  ServedReply,
  PublishWindow,
  SubscriptionObserver,
  SubscriptionSpec,
  Transport,
  TransportFeatures,
  TransportLike,
  TransportSubscription,
} from "@cozebus/core/transport";
import { DEFAULT_LAG_INTERVAL_MS, Gauges } from "./gauges.js";
import { AttributeCache, instruments, type Instruments } from "./metrics.js";
import { ATTR, OP_TYPE } from "./semconv.js";
import { metricsServerFromEnv, startMetricsServer, type MetricsServer, type MetricsServerOptions } from "./prometheus.js";

const NAME = "@cozebus/otel";
/** How long a settle span waits for the transport's settled() before it ends, marked unconfirmed. */
const SETTLE_WAIT_MS = 30_000;
const VERSION = "0.1.0";

export interface InstrumentOptions {
  /** Default: the global one (`trace.getTracerProvider()`); a no-op until an SDK registers one. */
  readonly tracerProvider?: TracerProvider;
  /** Default: the global one, or the Prometheus endpoint's when `metricsServer` (or COZEBUS_METRICS_PORT) turns it on. */
  readonly meterProvider?: MeterProvider;
  /** Injects and extracts `traceparent` / `tracestate` (default: the API's global propagator, W3C under the Node SDK). */
  readonly propagator?: TextMapPropagator;
  /**
   * What a `process` span's parent is. "producer" (default): the producer's
   * span, so a publish, its handler runs, retries and dead letter are one
   * trace. "none": a new trace per delivery; the producer's span is a link
   * either way.
   */
  readonly consumerParent?: "producer" | "none";
  /**
   * Serve Prometheus metrics with /healthz and /readyz (see startMetricsServer);
   * without it, the COZEBUS_METRICS_PORT environment variable turns the endpoint on.
   * `false`: never, whatever the environment says.
   */
  readonly metricsServer?: MetricsServerOptions | false;
  /**
   * How often each subscribed group's lag (pending, ack pending, redelivered)
   * is read from the broker for the `cozebus.consumer.lag.*` gauges (default
   * 15 000 ms; 0 turns lag off). One consumer-info request per group and
   * destination per interval; only the groups this process subscribes.
   */
  readonly lagIntervalMs?: number;
  /** Where COZEBUS_METRICS_PORT / COZEBUS_METRICS_HOST are read (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** An instrumented transport: the port, plus the metrics endpoint when one was turned on. */
export interface InstrumentedTransport extends Transport {
  /** The running endpoint (rejects when it could not listen), or undefined when none was asked for. */
  readonly metricsServer: Promise<MetricsServer> | undefined;
}

const headersGetter: TextMapGetter<Headers> = {
  get: (h, key) => h.get(key),
  keys: (h) => h.entries().map(([k]) => k),
};

const recordGetter: TextMapGetter<Record<string, string>> = {
  get: (c, key) => c[key],
  keys: (c) => Object.keys(c),
};

const errorType = (err: unknown): string => {
  if (err instanceof Error) return err.name !== "Error" ? err.name : err.constructor.name || "Error";
  return "_OTHER";
};

/** Which of a subscription's templates a concrete subject came from (low cardinality for span names and metrics). */
function templateResolver(spec: SubscriptionSpec | ServeSpec, root: string): (subject: string) => string {
  const templates = "events" in spec ? (spec.events === "domain" ? [] : spec.events.map((e) => e.template)) : [spec.template];
  const wildcard = `${root}.${spec.domain}.>`;
  if (templates.length === 1) return () => templates[0]!.template;
  const memo = new Map<string, string>();
  return (subject) => {
    let t = memo.get(subject);
    if (t === undefined) {
      t = templates.find((x) => x.match(subject, root) !== undefined)?.template ?? wildcard;
      if (memo.size < 10_000) memo.set(subject, t);
    }
    return t;
  };
}

/**
 * Wraps a transport (or a `Bus`) so that every call it carries is traced and
 * measured per the OpenTelemetry messaging conventions, for every transport
 * behind the port: `send` (PRODUCER) on publish, `create` + `send` on a
 * batch, `process` (CONSUMER) per handler run with a `settle` span for its
 * outcome, `request` (CLIENT) and `serve` (SERVER). Publish injects the W3C
 * trace context into the event's `traceparent` / `tracestate`; a handler runs
 * with its `process` span active, so what it publishes joins the trace.
 *
 * With no SDK registered every span is a non-recording no-op and every
 * instrument discards: the cost is a few allocations per call
 * (`npm run bench -w @cozebus/otel` measures it).
 */
export function instrument(target: TransportLike, options: InstrumentOptions = {}): InstrumentedTransport {
  const inner = transportOf(target);
  let server: Promise<MetricsServer> | undefined;
  let meterProvider = options.meterProvider;
  const serverOptions = options.metricsServer === false ? undefined : options.metricsServer ?? metricsServerFromEnv(options.env ?? process.env);
  let state: "open" | "draining" | "closed" = "open";
  if (serverOptions !== undefined) {
    if (meterProvider !== undefined) {
      throw new TypeError("instrument(): give either meterProvider or a metrics server (metricsServer / COZEBUS_METRICS_PORT), not both; to serve your own MeterProvider, add a PrometheusExporter reader to it");
    }
    const ready = serverOptions.ready;
    const started = startMetricsServer({
      ...serverOptions,
      ready: async () => state === "open" && (ready === undefined || (await ready())),
    });
    meterProvider = started.meterProvider;
    server = started.listening;
    // Nobody may await it: a port already taken is reported on the transport's error hook, never an unhandled rejection.
    server.catch((err: unknown) => inner.report(err instanceof Error ? err : new Error(String(err))));
  }
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(NAME, VERSION);
  const meter = (meterProvider ?? metrics.getMeterProvider()).getMeter(NAME, VERSION);
  const lagIntervalMs = options.lagIntervalMs ?? DEFAULT_LAG_INTERVAL_MS;
  if (!Number.isFinite(lagIntervalMs) || lagIntervalMs < 0) throw new ConfigError("lagIntervalMs", `${String(lagIntervalMs)} must be a number of milliseconds >= 0 (0 turns lag gauges off)`);
  const gauges = new Gauges(meter, inner, lagIntervalMs);
  const t = new Instrumented(inner, tracer, instruments(meter), gauges, options.propagator ?? propagation, options.consumerParent ?? "producer", server, (s) => (state = s));
  return t;
}

class Instrumented implements InstrumentedTransport {
  readonly #attrs = new AttributeCache();
  readonly #system: string;

  constructor(
    readonly inner: Transport,
    private readonly tracer: Tracer,
    private readonly m: Instruments,
    private readonly gauges: Gauges,
    private readonly propagator: TextMapPropagator,
    private readonly consumerParent: "producer" | "none",
    readonly metricsServer: Promise<MetricsServer> | undefined,
    private readonly setState: (s: "draining" | "closed") => void,
  ) {
    this.#system = inner.name;
  }

  get name(): string {
    return this.inner.name;
  }
  get subjectRoot(): string {
    return this.inner.subjectRoot;
  }
  features(qos: QualityOfService): TransportFeatures {
    return this.inner.features(qos);
  }
  effectiveQos(declared: QualityOfService): QualityOfService {
    return this.inner.effectiveQos(declared);
  }
  provision(plan: DomainPlan): Promise<ProvisionResult[]> {
    return this.inner.provision(plan);
  }
  report(error: Error): void {
    this.inner.report(error);
  }
  publishWindow(): PublishWindow | undefined {
    // The metrics callback is this window's reader (its peak resets per read); others see it through the inner transport.
    return this.inner.publishWindow?.();
  }

  async drain(): Promise<void> {
    this.setState("draining");
    this.gauges.close();
    try {
      await this.inner.drain();
    } finally {
      this.setState("closed");
      await this.#stopServer();
    }
  }

  async close(): Promise<void> {
    this.setState("closed");
    this.gauges.close();
    try {
      await this.inner.close();
    } finally {
      await this.#stopServer();
    }
  }

  async #stopServer(): Promise<void> {
    const s = await this.metricsServer?.catch(() => undefined);
    await s?.close();
  }

  // ---- producer side -------------------------------------------------------

  readonly #sendByTemplate = new WeakMap<SubjectTemplate, Attributes>();
  /** A successful send's metric attributes: one lookup by the template object on the hot path. */
  #sendAttrs(t: SubjectTemplate): Attributes {
    let a = this.#sendByTemplate.get(t);
    if (a === undefined) this.#sendByTemplate.set(t, (a = this.#opAttrs("send", t.template)));
    return a;
  }

  /** Metric attributes for one operation on one template (cached). */
  #opAttrs(op: string, template: string, error?: string): Attributes {
    return this.#attrs.get(`${op}\0${template}\0${error ?? ""}`, () => ({
      [ATTR.system]: this.#system,
      [ATTR.operationName]: op,
      [ATTR.destinationTemplate]: template,
      ...(error !== undefined ? { [ATTR.errorType]: error } : {}),
    }));
  }

  /** The parent of a producer span: an explicit `traceparent` the caller gave wins over the active context. */
  #producerParent(a: OutgoingAttributes): Context {
    const active = context.active();
    if (a.traceparent === undefined) return active;
    const carrier: Record<string, string> = { traceparent: a.traceparent };
    if (a.tracestate !== undefined) carrier["tracestate"] = a.tracestate;
    return this.propagator.extract(active, carrier, recordGetter);
  }

  /** The attributes with the span's context injected: `traceparent` / `tracestate` as attributes, anything else (baggage) as headers. */
  #inject(parent: Context, span: Span, a: OutgoingAttributes): OutgoingAttributes {
    // No SDK and no incoming trace: nothing to carry (unless baggage is set); skip building a context on the hot path.
    if (!isSpanContextValid(span.spanContext()) && propagation.getBaggage(parent) === undefined) return a;
    const ctx = trace.setSpan(parent, span);
    const carrier: Record<string, string> = {};
    this.propagator.inject(ctx, carrier, defaultTextMapSetter);
    let traceparent: string | undefined;
    let tracestate: string | undefined;
    let headers: Record<string, string> | undefined;
    for (const key in carrier) {
      const value = carrier[key]!;
      if (key === "traceparent") traceparent = value;
      else if (key === "tracestate") tracestate = value;
      else (headers ??= {})[key] = value;
    }
    if (traceparent === undefined && tracestate === undefined && headers === undefined) return a;
    return {
      ...a,
      ...(traceparent !== undefined ? { traceparent } : {}),
      ...(tracestate !== undefined ? { tracestate } : {}),
      ...(headers !== undefined ? { headers: { ...headers, ...a.headers } } : {}),
    };
  }

  #producerSpan(name: string, kind: SpanKind, e: { address: OutgoingEvent["address"]; data: Uint8Array; attributes: OutgoingAttributes }, op: string, opType: string, parent: Context, extra?: Attributes): Span {
    const template = e.address.template.template;
    // No SDK: a non-recording span; the attribute record below is never built.
    const span = this.tracer.startSpan(`${name} ${template}`, { kind }, parent);
    if (span.isRecording()) {
      span.setAttributes({
        [ATTR.system]: this.#system,
        [ATTR.operationName]: op,
        [ATTR.operationType]: opType,
        [ATTR.destinationTemplate]: template,
        [ATTR.destinationName]: e.address.template.build(e.address.fields, this.inner.subjectRoot),
        [ATTR.domain]: e.address.domain,
        [ATTR.bodySize]: e.data.byteLength,
        [ATTR.ceType]: e.attributes.type,
        [ATTR.ceSpecVersion]: "1.0",
        ...(e.attributes.id !== undefined ? { [ATTR.messageId]: e.attributes.id, [ATTR.ceId]: e.attributes.id } : {}),
        ...(e.attributes.source !== undefined ? { [ATTR.ceSource]: e.attributes.source } : {}),
        ...extra,
      });
    }
    return span;
  }

  #received(span: Span, r: Receipt): void {
    if (!span.isRecording()) return;
    span.setAttributes({
      [ATTR.messageId]: r.id,
      [ATTR.ceId]: r.id,
      [ATTR.destinationName]: r.subject,
      [ATTR.qos]: r.qos,
      ...(r.position !== undefined ? { [ATTR.position]: r.position } : {}),
    });
  }

  async publish(e: OutgoingEvent): Promise<Receipt> {
    const start = performance.now();
    const template = e.address.template.template;
    const parent = this.#producerParent(e.attributes);
    const span = this.#producerSpan("send", SpanKind.PRODUCER, e, "send", OP_TYPE.send, parent);
    const attributes = this.#inject(parent, span, e.attributes);
    try {
      const r = await this.inner.publish(attributes === e.attributes ? e : { ...e, attributes });
      this.#received(span, r);
      const a = this.#sendAttrs(e.address.template);
      this.m.sent.add(1, a);
      this.m.operationDuration.record((performance.now() - start) / 1000, a);
      return r;
    } catch (err) {
      failed(span, err);
      const a = this.#opAttrs("send", template, errorType(err));
      this.m.sent.add(1, a);
      this.m.operationDuration.record((performance.now() - start) / 1000, a);
      throw err;
    } finally {
      span.end();
    }
  }

  async publishBatch(events: readonly OutgoingEvent[], options?: { readonly atomic?: boolean }): Promise<BatchResult[]> {
    const start = performance.now();
    const templates = new Set(events.map((e) => e.address.template.template));
    const name = templates.size === 1 ? [...templates][0]! : "batch";
    // Per the conventions: one `send` (CLIENT) span for the call, one `create` (PRODUCER) span per message, whose context the message carries.
    const batch = this.tracer.startSpan(`send ${name}`, { kind: SpanKind.CLIENT }, context.active());
    if (batch.isRecording()) {
      batch.setAttributes({
        [ATTR.system]: this.#system,
        [ATTR.operationName]: "send",
        [ATTR.operationType]: OP_TYPE.send,
        [ATTR.batchCount]: events.length,
        ...(templates.size === 1 ? { [ATTR.destinationTemplate]: name } : {}),
      });
    }
    const batchCtx = trace.setSpan(context.active(), batch);
    const spans: Span[] = [];
    const out = events.map((e) => {
      const parent = e.attributes.traceparent === undefined ? batchCtx : this.#producerParent(e.attributes);
      const span = this.#producerSpan("create", SpanKind.PRODUCER, e, "create", OP_TYPE.create, parent, { [ATTR.batchCount]: events.length });
      if (e.attributes.traceparent !== undefined) span.addLink({ context: batch.spanContext() });
      spans.push(span);
      const attributes = this.#inject(parent, span, e.attributes);
      return attributes === e.attributes ? e : { ...e, attributes };
    });
    try {
      const results = await this.inner.publishBatch(out, options);
      const seconds = (performance.now() - start) / 1000;
      let failures = 0;
      results.forEach((r, i) => {
        const span = spans[i];
        const template = events[i]!.address.template.template;
        if (r.ok) {
          if (span) this.#received(span, r.receipt);
          this.m.sent.add(1, this.#opAttrs("send", template));
        } else {
          failures++;
          if (span) failed(span, r.error);
          this.m.sent.add(1, this.#opAttrs("send", template, errorType(r.error)));
        }
      });
      if (failures > 0) batch.setStatus({ code: SpanStatusCode.ERROR, message: `${failures} of ${events.length} events failed` });
      this.m.operationDuration.record(seconds, this.#opAttrs("send", name, failures > 0 ? "batch_partial" : undefined));
      return results;
    } catch (err) {
      failed(batch, err);
      for (const s of spans) failed(s, err);
      for (const e of events) this.m.sent.add(1, this.#opAttrs("send", e.address.template.template, errorType(err)));
      this.m.operationDuration.record((performance.now() - start) / 1000, this.#opAttrs("send", name, errorType(err)));
      throw err;
    } finally {
      for (const s of spans) s.end();
      batch.end();
    }
  }

  async request(spec: RequestSpec): Promise<Reply> {
    const start = performance.now();
    const template = spec.address.template.template;
    const parent = this.#producerParent(spec.attributes);
    const span = this.#producerSpan("request", SpanKind.CLIENT, spec, "request", OP_TYPE.send, parent);
    const attributes = this.#inject(parent, span, spec.attributes);
    try {
      const reply = await this.inner.request(attributes === spec.attributes ? spec : { ...spec, attributes });
      this.m.operationDuration.record((performance.now() - start) / 1000, this.#opAttrs("request", template));
      return reply;
    } catch (err) {
      failed(span, err);
      this.m.operationDuration.record((performance.now() - start) / 1000, this.#opAttrs("request", template, errorType(err)));
      throw err;
    } finally {
      span.end();
    }
  }

  // ---- consumer side -------------------------------------------------------

  /** The producer's context from a delivery's headers (W3C traceparent/tracestate, baggage). */
  #producerContext(d: Delivery): { ctx: Context; links: Link[] } {
    const ctx = this.propagator.extract(ROOT_CONTEXT, d.headers, headersGetter);
    const sc = trace.getSpanContext(ctx);
    return { ctx, links: sc !== undefined && isSpanContextValid(sc) ? [{ context: sc }] : [] };
  }

  #deliveryAttributes(d: Delivery, template: string, group: string, op: string, opType: string): Attributes {
    const ev = d.event;
    return {
      [ATTR.system]: this.#system,
      [ATTR.operationName]: op,
      [ATTR.operationType]: opType,
      [ATTR.destinationName]: d.subject,
      [ATTR.destinationTemplate]: template,
      [ATTR.consumerGroup]: group,
      [ATTR.bodySize]: d.data.byteLength,
      [ATTR.attempt]: d.attempt,
      ...(d.position !== undefined ? { [ATTR.position]: d.position } : {}),
      ...(ev !== undefined
        ? { [ATTR.messageId]: ev.id, [ATTR.ceId]: ev.id, [ATTR.ceType]: ev.type, [ATTR.ceSource]: ev.source, [ATTR.ceSpecVersion]: "1.0" }
        : {}),
    };
  }

  subscribe(spec: SubscriptionSpec, handler: DeliveryHandler): Promise<TransportSubscription> {
    const templateOf = templateResolver(spec, this.inner.subjectRoot);
    const group = spec.group;
    const metricAttrs = (template: string, extra?: string, value?: string): Attributes =>
      this.#attrs.get(`process\0${template}\0${group}\0${extra ?? ""}\0${value ?? ""}`, () => ({
        [ATTR.system]: this.#system,
        [ATTR.operationName]: "process",
        [ATTR.destinationTemplate]: template,
        [ATTR.consumerGroup]: group,
        ...(extra !== undefined ? { [extra]: value } : {}),
      }));
    const heartbeatAttrs = (template: string): Attributes =>
      this.#attrs.get(`heartbeat\0${template}\0${group}`, () => ({
        [ATTR.system]: this.#system,
        [ATTR.destinationTemplate]: template,
        [ATTR.consumerGroup]: group,
      }));
    const outer = spec.observer;
    // Settle spans waiting for the transport to say the outcome was carried out (only while tracing records).
    const settling = new Map<Delivery, { span: Span; timer: NodeJS.Timeout }>();
    const observer: SubscriptionObserver = {
      heartbeat: (subject) => {
        this.m.heartbeats.add(1, heartbeatAttrs(templateOf(subject)));
        outer?.heartbeat?.(subject);
      },
      settled: (d) => {
        const s = settling.get(d);
        if (s !== undefined) {
          settling.delete(d);
          clearTimeout(s.timer);
          s.span.end();
        }
        outer?.settled?.(d);
      },
    };
    // At most once there is nothing to carry out (no ack): the settle span ends with the outcome.
    const awaitsSettle = spec.qos === "at-least-once";
    const wrapped: DeliveryHandler = async (d) => {
      const template = templateOf(d.subject);
      const producer = this.#producerContext(d);
      const parent = this.consumerParent === "producer" ? producer.ctx : ROOT_CONTEXT;
      const span = this.tracer.startSpan(`process ${template}`, { kind: SpanKind.CONSUMER, links: producer.links }, parent);
      if (span.isRecording()) span.setAttributes(this.#deliveryAttributes(d, template, group, "process", OP_TYPE.process));
      const ctx = trace.setSpan(parent, span);
      this.m.consumed.add(1, metricAttrs(template));
      this.m.active.add(1, metricAttrs(template));
      const start = performance.now();
      let outcome: Outcome;
      try {
        outcome = await context.with(ctx, handler, undefined, d);
      } catch (err) {
        // The typed layer never throws here; a raw port handler may, and its transport reports it.
        failed(span, err);
        this.m.processDuration.record((performance.now() - start) / 1000, metricAttrs(template, ATTR.errorType, errorType(err)));
        span.end();
        throw err;
      } finally {
        this.m.active.add(-1, metricAttrs(template));
      }
      const seconds = (performance.now() - start) / 1000;
      const settle = this.#settle(span, ctx, template, d, group, outcome);
      if (settle !== undefined) {
        if (!awaitsSettle) settle.end();
        else {
          // A transport that never reports settled() must not leak spans: end it as unconfirmed after a while.
          const timer = setTimeout(() => {
            if (settling.delete(d)) settle.setAttribute(ATTR.settleConfirmed, false).end();
          }, SETTLE_WAIT_MS).unref();
          settling.set(d, { span: settle, timer });
        }
      }
      if (outcome.type === "ack") this.m.processDuration.record(seconds, metricAttrs(template));
      else {
        const why = outcomeErrorType(outcome);
        this.m.processDuration.record(seconds, metricAttrs(template, ATTR.errorType, why));
        if (outcome.type === "retry") this.m.retries.add(1, metricAttrs(template));
        else this.m.deadLetters.add(1, metricAttrs(template, ATTR.deadLetterReason, outcome.reason));
      }
      span.end();
      return outcome;
    };
    return this.inner.subscribe({ ...spec, observer }, wrapped).then((sub) => this.gauges.track(group, sub));
  }

  /**
   * Records the outcome on the process span and starts a `settle` span under
   * it, from the moment the handler returned until the transport says it
   * carried the outcome out (the subscription observer's settled()).
   */
  #settle(span: Span, ctx: Context, template: string, d: Delivery, group: string, outcome: Outcome): Span | undefined {
    if (!span.isRecording()) return undefined;
    const op = outcome.type === "ack" ? "ack" : outcome.type === "retry" ? "nack" : "dead_letter";
    const attrs: Attributes = {
      [ATTR.system]: this.#system,
      [ATTR.operationName]: op,
      [ATTR.operationType]: OP_TYPE.settle,
      [ATTR.destinationName]: d.subject,
      [ATTR.destinationTemplate]: template,
      [ATTR.consumerGroup]: group,
      [ATTR.attempt]: d.attempt,
      [ATTR.outcome]: outcome.type,
      ...(d.event !== undefined ? { [ATTR.messageId]: d.event.id, [ATTR.ceId]: d.event.id } : {}),
      ...(outcome.type === "retry" ? { [ATTR.retryDelay]: outcome.delayMs } : {}),
      ...(outcome.type === "dead-letter" ? { [ATTR.deadLetterReason]: outcome.reason } : {}),
      ...(outcome.type !== "ack" ? { [ATTR.errorType]: outcomeErrorType(outcome) } : {}),
    };
    span.setAttribute(ATTR.outcome, outcome.type);
    if (outcome.type !== "ack") {
      span.setAttribute(ATTR.errorType, outcomeErrorType(outcome));
      if (outcome.error !== undefined) span.recordException(asException(outcome.error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.type === "retry" ? `retry in ${outcome.delayMs} ms` : `dead letter: ${outcome.reason}` });
    }
    return this.tracer.startSpan(`settle ${template}`, { kind: SpanKind.CLIENT, attributes: attrs }, ctx);
  }

  serve(spec: ServeSpec, handler: (request: Delivery) => Promise<ServedReply>): Promise<TransportSubscription> {
    const templateOf = templateResolver(spec, this.inner.subjectRoot);
    const wrapped = async (d: Delivery): Promise<ServedReply> => {
      const template = templateOf(d.subject);
      const producer = this.#producerContext(d);
      const span = this.tracer.startSpan(`serve ${template}`, { kind: SpanKind.SERVER }, producer.ctx);
      if (span.isRecording()) span.setAttributes(this.#deliveryAttributes(d, template, spec.group, "serve", OP_TYPE.process));
      const start = performance.now();
      try {
        const reply = await context.with(trace.setSpan(producer.ctx, span), handler, undefined, d);
        this.m.processDuration.record((performance.now() - start) / 1000, this.#serveAttrs(template, spec.group));
        return reply;
      } catch (err) {
        failed(span, err);
        this.m.processDuration.record((performance.now() - start) / 1000, this.#serveAttrs(template, spec.group, errorType(err)));
        throw err;
      } finally {
        span.end();
      }
    };
    return this.inner.serve(spec, wrapped);
  }

  #serveAttrs(template: string, group: string, error?: string): Attributes {
    return this.#attrs.get(`serve\0${template}\0${group}\0${error ?? ""}`, () => ({
      [ATTR.system]: this.#system,
      [ATTR.operationName]: "serve",
      [ATTR.destinationTemplate]: template,
      [ATTR.consumerGroup]: group,
      ...(error !== undefined ? { [ATTR.errorType]: error } : {}),
    }));
  }
}

function outcomeErrorType(o: Exclude<Outcome, { type: "ack" }>): string {
  if (o.error !== undefined) return errorType(o.error);
  return o.type === "dead-letter" ? o.reason : "retry";
}

function asException(err: unknown): Error | string {
  return err instanceof Error ? err : String(err);
}

function failed(span: Span, err: unknown): void {
  if (!span.isRecording()) return;
  span.recordException(asException(err));
  span.setAttribute(ATTR.errorType, errorType(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}
