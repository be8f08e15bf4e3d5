import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { JetStreamApiConfig } from "../config/resolve.js";
import { domainOf, rememberRouting, type Routing } from "../connection/routing.js";
import type { ServerFeature } from "../connection/server-info.js";
import { eventHeaders, type EventAttributes } from "../messaging/headers.js";
import { DurableConsumer, type ConsumeOptions, type ConsumerHost, type ConsumerSpec, type DeliveryHandler } from "./consumer.js";
import { DeadLetters, watchAbandoned, type WatcherHost } from "./dead-letters.js";
import { JetStreamPublisher, type PubAck, type PublisherOptions } from "./publisher.js";
import { addSchedule, addTtl, publishAtomic, requireFeature } from "./publish-features.js";
import { FeatureUnavailableError, describe, isCozebusError } from "../errors.js";
import { PartitionedConsumer, type PartitionedOptions, type PartitionedSpec } from "./partitioned/consumer.js";
import {
  checkStream,
  deadLetterStream,
  domainStream,
  domainStreamName,
  ensureStream,
  manager,
  pruneStream,
  scheduleSubjects,
  type EnsureResult,
  type PrunePlan,
  type StreamCheck,
  type StreamAllow,
  type StreamLimits,
  type StreamSpec,
} from "./streams.js";

export interface JetStreamPublishOptions extends EventAttributes {
  /** Optimistic concurrency: the stream refuses the event unless the subject's last sequence is this (0: no event yet). */
  readonly expectedLastSubjectSequence?: number;
  /** The stream deletes the event after this long (nats-server 2.11+; at least 1000, rounded up to whole seconds). */
  readonly ttlMs?: number;
  /**
   * The server holds the event and publishes it at this time (nats-server
   * 2.12+ message schedules; whole seconds). The ack is the schedule's.
   */
  readonly deliverAt?: Date;
}

export interface PublishBatchOptions {
  /** All events are stored, or none (nats-server 2.12+, a stream that allows atomic batches, at most 1000 events, one stream). */
  readonly atomic?: boolean;
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
  /** Prefix of reply inboxes; undefined: nats.js's default. */
  readonly inboxPrefix: string | undefined;
  /** Where the JetStream API is: default, a domain, or an API prefix. */
  readonly jetstreamApi: JetStreamApiConfig;
  traceparent(): string | undefined;
  connected(): boolean;
  onReconnected(listener: () => void): () => void;
  supports(feature: ServerFeature): boolean;
  /** The version of the server the connection is on now. */
  version(): string;
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
  readonly #consumers = new Set<DurableConsumer | PartitionedConsumer>();
  /** The JetStream manager, bound to the configured domain or API prefix. */
  readonly jsm: JetStreamManager;
  /** A nats.js JetStream client with the same domain or API prefix. */
  readonly js: JetStreamClient;
  /** Where replies and JetStream API requests of this layer go. */
  readonly routing: Routing;
  /** Dead letters of this bus's prefix (the `<PREFIX>_DLQ` stream). */
  readonly deadLetters: DeadLetters;
  #closing: Promise<void> | undefined;

  private constructor(host: JetStreamHost, jsm: JetStreamManager, publisher: JetStreamPublisher, routing: Routing) {
    this.#host = host;
    this.jsm = jsm;
    this.js = jsm.jetstream();
    this.routing = routing;
    this.#publisher = publisher;
    this.deadLetters = new DeadLetters(jsm, publisher, this.deadLetterStream().name);
  }

  static async open(host: JetStreamHost, options: PublisherOptions = {}): Promise<JetStream> {
    const jsm = await manager(host.nc, host.jetstreamApi, host.inboxPrefix);
    const routing: Routing = { inboxPrefix: host.inboxPrefix, api: host.jetstreamApi, apiPrefix: jsm.getOptions().apiPrefix ?? "" };
    // Before any consumer exists: its pull loop finds the API prefix and inbox prefix of this connection here.
    rememberRouting(host.nc, routing);
    const publisher = await JetStreamPublisher.open(
      { nc: host.nc, routing, jsm, connected: () => host.connected(), onReconnected: (l) => host.onReconnected(l) },
      options,
    );
    return new JetStream(host, jsm, publisher, routing);
  }

  /** The stream of a domain under this bus's prefix and replicas, over exactly `subjects` (the typed layer derives them: `domainClient(...).streams()`). */
  domainStream(domain: string, subjects: readonly string[], limits?: Partial<StreamLimits>, excludes?: readonly string[], allow?: StreamAllow): StreamSpec {
    return domainStream({ prefix: this.#host.prefix, streamReplicas: this.#host.streamReplicas }, domain, subjects, limits, excludes, allow);
  }

  /** The subjects a domain's delayed publishes wait on (`<prefix>._schedules.<domain>.>`), part of its stream where schedules are allowed. */
  scheduleSubjects(domain: string): string {
    return scheduleSubjects({ prefix: this.#host.prefix }, domain);
  }

  /** The name of a domain's stream under this bus's prefix, e.g. `COZE_WORKFLOW`. */
  domainStreamName(domain: string): string {
    return domainStreamName({ prefix: this.#host.prefix }, domain);
  }

  deadLetterStream(limits?: Partial<StreamLimits>): StreamSpec {
    return deadLetterStream({ prefix: this.#host.prefix, streamReplicas: this.#host.streamReplicas }, limits);
  }

  /**
   * Creates a stream or provisions it additively (see ensureStream): never
   * removes a subject or lowers a limit. `build` (`<package>@<version>`) is
   * recorded in the stream's metadata on servers that keep it (2.10+).
   */
  ensureStream(spec: StreamSpec, options: { readonly build?: string | readonly string[] } = {}): Promise<EnsureResult> {
    return ensureStream(this.jsm, spec, { ...options, metadata: this.#host.supports("stream-metadata") });
  }

  /** Compares a stream on the server with its spec without changing anything. */
  checkStream(spec: StreamSpec): Promise<StreamCheck> {
    return checkStream(this.jsm, spec);
  }

  /** Lists what additive provisioning kept and the spec does not need; with `apply`, removes it (see pruneStream). */
  pruneStream(spec: StreamSpec, options: { readonly apply?: boolean; readonly force?: boolean; readonly build?: string } = {}): Promise<PrunePlan> {
    return pruneStream(this.jsm, spec, options);
  }

  /** Publishes one event and resolves with the stream's ack. */
  publish(subject: string, data: Uint8Array, event: JetStreamPublishOptions): Promise<PubAck> {
    const { headers, id, to } = this.#outgoing(subject, event);
    const sent = this.#publisher.publish(to, data, headers, id, event.expectedLastSubjectSequence);
    if (event.deliverAt === undefined) return sent;
    return sent.catch((err: unknown) => {
      if (isCozebusError(err, "PUBLISH_REJECTED") || isCozebusError(err, "NO_STREAM")) {
        throw new FeatureUnavailableError("msg-schedules", `the stream refused the delayed event (${describe(err)}): provision the domain with { schedules: true } (and discard "old") to allow delayed publishes`);
      }
      throw err;
    });
  }

  /** Headers for one event, and where it is sent: its subject, or its schedule subject for a delayed publish. */
  #outgoing(subject: string, event: JetStreamPublishOptions): { headers: ReturnType<typeof eventHeaders>["headers"]; id: string; to: string } {
    const host = this.#host;
    const gate = { supports: (f: ServerFeature) => host.supports(f), version: () => host.version() };
    if (event.ttlMs !== undefined) requireFeature(gate, "msg-ttl", "publish with ttlMs");
    if (event.deliverAt !== undefined) requireFeature(gate, "msg-schedules", "publish with deliverAt");
    const { headers, id } = eventHeaders(event, host.source, host.traceparent());
    if (event.ttlMs !== undefined) addTtl(headers, event.ttlMs);
    if (event.deliverAt === undefined) return { headers, id, to: subject };
    if (!subject.startsWith(`${host.prefix}.`)) throw new FeatureUnavailableError("msg-schedules", `"${subject}" is not under the prefix ${host.prefix}, so it has no domain stream to wait in`);
    const domain = subject.slice(host.prefix.length + 1).split(".")[0]!;
    addSchedule(headers, subject, event.deliverAt);
    return { headers, id, to: scheduleSubjects({ prefix: host.prefix }, domain).replace(/>$/, id) };
  }

  /**
   * Publishes many events; one result per event, in order, never a
   * rejection. Pipelined by default; `{ atomic: true }` stores all or none
   * (then every result shares the outcome).
   */
  async publishBatch(items: readonly BatchItem[], options: PublishBatchOptions = {}): Promise<BatchResult[]> {
    if (options.atomic === true) {
      const host = this.#host;
      requireFeature({ supports: (f) => host.supports(f), version: () => host.version() }, "atomic-batch", "publishBatch with atomic: true");
      if (items.some((it) => it.event.deliverAt !== undefined)) throw new FeatureUnavailableError("atomic-batch", "an atomic batch cannot hold delayed (deliverAt) events");
      const prepared = items.map((it) => ({ ...this.#outgoing(it.subject, it.event), data: it.data }));
      try {
        const acks = await publishAtomic(this.js, prepared.map((p) => ({ subject: p.to, data: p.data, headers: p.headers, id: p.id })));
        return acks.map((ack): BatchResult => ({ ok: true, ack }));
      } catch (error) {
        return items.map((): BatchResult => ({ ok: false, error: error as Error }));
      }
    }
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

  /** The publisher's window (see JetStreamPublisher.window): in flight, peak since the previous call, capacity. */
  publishWindow(): { inFlight: number; peak: number; capacity: number } {
    return this.#publisher.window();
  }

  /** Starts a durable consumer; resolves once it is pulling. */
  async consume(spec: ConsumerSpec, handler: DeliveryHandler, options: ConsumeOptions = {}): Promise<DurableConsumer> {
    const host = this.#host;
    // Also a WatcherHost: the consumer hands itself to watchAbandoned, which needs the domain to tell its advisories apart.
    const consumerHost: ConsumerHost & WatcherHost = {
      nc: host.nc,
      jsm: this.jsm,
      publisher: this.#publisher,
      domain: domainOf(this.routing),
      dlqSubject: (stream, consumer) => this.#dlqSubject(stream, consumer),
      supports: (f) => host.supports(f),
      onReconnected: (l) => host.onReconnected(l),
      report: (e) => host.report(e),
    };
    const c = await DurableConsumer.start(consumerHost, spec, handler, options);
    this.#consumers.add(c);
    return c;
  }

  /**
   * Per-key (per-subject) order across every instance of a group, with
   * failover (nats-server 2.11+; older servers are refused with
   * FeatureUnavailableError "pinned-client"): see PartitionedConsumer. Resolves once this
   * instance serves its share of the partitions.
   */
  async consumePartitioned(spec: PartitionedSpec, handler: DeliveryHandler, options: PartitionedOptions = {}): Promise<PartitionedConsumer> {
    const host = this.#host;
    const c = await PartitionedConsumer.start(
      {
        nc: host.nc,
        jsm: this.jsm,
        publisher: this.#publisher,
        prefix: host.prefix,
        streamReplicas: host.streamReplicas,
        routing: this.routing,
        domain: domainOf(this.routing),
        dlqSubject: (stream, consumer) => this.#dlqSubject(stream, consumer),
        supports: (f) => host.supports(f),
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
      { nc: this.#host.nc, jsm: this.jsm, publisher: this.#publisher, domain: domainOf(this.routing), dlqSubject: (s, c) => this.#dlqSubject(s, c) },
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
