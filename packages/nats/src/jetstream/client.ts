import { jetstream as natsJetStream, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { eventHeaders, type EventAttributes } from "../messaging/headers.js";
import { DurableConsumer, type ConsumeOptions, type ConsumerSpec, type DeliveryHandler } from "./consumer.js";
import { DeadLetters, watchAbandoned } from "./dead-letters.js";
import { JetStreamPublisher, type PubAck, type PublisherOptions } from "./publisher.js";
import { checkStream, deadLetterStream, domainStream, ensureStream, manager, type EnsureResult, type StreamCheck, type StreamLimits, type StreamSpec } from "./streams.js";

export interface JetStreamPublishOptions extends EventAttributes {
  /** Optimistic concurrency: the stream refuses the event unless the subject's last sequence is this (0: no event yet). */
  readonly expectedLastSubjectSequence?: number;
}

export interface BatchItem {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly event: JetStreamPublishOptions;
}

export type BatchResult = { readonly ok: true; readonly ack: PubAck } | { readonly ok: false; readonly error: Error };

/** What the JetStream layer needs from the bus that owns it. */
export interface JetStreamHost {
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly streamReplicas: number;
  readonly source: string;
  traceparent(): string | undefined;
  connected(): boolean;
  onReconnected(listener: () => void): () => void;
  supportsTermReason(): boolean;
  report(error: Error): void;
}

/**
 * At-least-once delivery on JetStream: stream provisioning, a pipelined
 * publisher with safe retries, durable consumers with retry policies and
 * dead letters. Get it from `bus.jetstream()`.
 */
export class JetStream {
  readonly #host: JetStreamHost;
  readonly #publisher: JetStreamPublisher;
  readonly #consumers = new Set<DurableConsumer>();
  readonly jsm: JetStreamManager;
  readonly js: JetStreamClient;
  /** Dead letters of this bus's prefix (the `<PREFIX>_DLQ` stream). */
  readonly deadLetters: DeadLetters;
  #closing: Promise<void> | undefined;

  private constructor(host: JetStreamHost, jsm: JetStreamManager, publisher: JetStreamPublisher) {
    this.#host = host;
    this.jsm = jsm;
    this.js = natsJetStream(host.nc);
    this.#publisher = publisher;
    this.deadLetters = new DeadLetters(jsm, publisher, this.deadLetterStream().name);
  }

  static async open(host: JetStreamHost, options: PublisherOptions = {}): Promise<JetStream> {
    const jsm = await manager(host.nc);
    const publisher = await JetStreamPublisher.open(
      { nc: host.nc, connected: () => host.connected(), onReconnected: (l) => host.onReconnected(l) },
      options,
    );
    return new JetStream(host, jsm, publisher);
  }

  /** The stream spec of a domain under this bus's prefix and replicas. */
  domainStream(domain: string, limits?: Partial<StreamLimits>): StreamSpec {
    return domainStream({ prefix: this.#host.prefix, streamReplicas: this.#host.streamReplicas }, domain, limits);
  }

  deadLetterStream(limits?: Partial<StreamLimits>): StreamSpec {
    return deadLetterStream({ prefix: this.#host.prefix, streamReplicas: this.#host.streamReplicas }, limits);
  }

  /** Creates or reconciles a stream (see ensureStream). */
  ensureStream(spec: StreamSpec): Promise<EnsureResult> {
    return ensureStream(this.#host.nc, spec);
  }

  /** Compares a stream on the server with its spec without changing anything. */
  checkStream(spec: StreamSpec): Promise<StreamCheck> {
    return checkStream(this.#host.nc, spec);
  }

  /** Provisions the given domains' streams and the dead-letter stream. */
  async provision(domains: readonly string[], limits?: Partial<StreamLimits>): Promise<EnsureResult[]> {
    const out: EnsureResult[] = [];
    for (const d of domains) out.push(await this.ensureStream(this.domainStream(d, limits)));
    out.push(await this.ensureStream(this.deadLetterStream()));
    return out;
  }

  /** Publishes one event and resolves with the stream's ack. */
  publish(subject: string, data: Uint8Array, event: JetStreamPublishOptions): Promise<PubAck> {
    const { headers, id } = eventHeaders(event, this.#host.source, this.#host.traceparent());
    return this.#publisher.publish(subject, data, headers, id, event.expectedLastSubjectSequence);
  }

  /** Publishes many events pipelined; one result per event, in order, never a rejection. */
  publishBatch(items: readonly BatchItem[]): Promise<BatchResult[]> {
    return Promise.all(
      items.map((it) =>
        (async () => this.publish(it.subject, it.data, it.event))().then(
          (ack): BatchResult => ({ ok: true, ack }),
          (error: unknown): BatchResult => ({ ok: false, error: error as Error }),
        ),
      ),
    );
  }

  /** Publishes still waiting for their ack. */
  get inFlight(): number {
    return this.#publisher.inFlight;
  }

  /** Starts a durable consumer; resolves once it is pulling. */
  async consume(spec: ConsumerSpec, handler: DeliveryHandler, options: ConsumeOptions = {}): Promise<DurableConsumer> {
    const host = this.#host;
    const c = await DurableConsumer.start(
      {
        nc: host.nc,
        jsm: this.jsm,
        publisher: this.#publisher,
        dlqSubject: (stream, consumer) => this.#dlqSubject(stream, consumer),
        supportsTermReason: () => host.supportsTermReason(),
        onReconnected: (l) => host.onReconnected(l),
        report: (e) => host.report(e),
      },
      spec,
      handler,
      options,
    );
    this.#consumers.add(c);
    return c;
  }

  /**
   * Watches a consumer group for events that ran out of deliveries without
   * being settled, and dead-letters them. Every `consume()` does this for its
   * own group; call it directly from a process that only operates the bus.
   */
  watchAbandoned(stream: string, group: string): () => void {
    return watchAbandoned(
      { nc: this.#host.nc, jsm: this.jsm, publisher: this.#publisher, dlqSubject: (s, c) => this.#dlqSubject(s, c) },
      stream,
      group,
      (e) => this.#host.report(e),
    );
  }

  #dlqSubject(stream: string, consumer: string): string {
    return `${this.#host.prefix}.dlq.${stream}.${consumer}`;
  }

  /** The connection closed without a drain: unsettled publishes fail now with `error`. */
  abort(error: Error): void {
    this.#publisher.abort(error);
    for (const c of this.#consumers) c.halt();
  }

  /** Stops every consumer gracefully, then waits for every publish to settle. */
  close(timeoutMs?: number): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all([...this.#consumers].map((c) => c.stop(timeoutMs)));
      await this.#publisher.close();
    })();
    return this.#closing;
  }
}
