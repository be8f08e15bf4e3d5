import { connect as natsConnect, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { describeConfig, type JetStreamApiConfig, type ResolvedConfig } from "../config/resolve.js";
import type { BusOptions } from "../config/options.js";
import { ConnectionClosedError, DrainTimeoutError, NotConnectedError, describe, type HandlerError } from "../errors.js";
import { eventHeaders, type EventAttributes } from "../messaging/headers.js";
import { Inbound, type InboundMessage } from "../messaging/inbound.js";
import { answer, sendRequest, type Reply } from "../messaging/request.js";
import { SubjectTemplate, checkPublishSubject, templatePattern, type TokenValue } from "../messaging/subject.js";
import { NatsTransport } from "../transport/nats-transport.js";
import { CoreSubscription, type MessageHandler, type SubscribeOptions, type Subscription } from "../messaging/subscription.js";
import { clientOptions } from "./client-options.js";
import { explainConnectError } from "./connect-errors.js";
import { TypedEmitter } from "./events.js";
import { guardTransport } from "./transport-guard.js";
import { JetStream } from "../jetstream/client.js";
import type { PublisherOptions } from "../jetstream/publisher.js";
import { serverInfo, type ServerInfo } from "./server-info.js";

export interface PublishedEvent {
  readonly id: string;
  readonly subject: string;
}

export interface RequestOptions extends EventAttributes {
  /** Time to wait for the reply (default 5000 ms). */
  readonly timeoutMs?: number;
}

export interface ServeOptions {
  /** Queue group, so several instances share the requests (default: none). */
  readonly queue?: string;
  /** Requests handled at once (default 64). */
  readonly concurrency?: number;
  readonly onError?: SubscribeOptions["onError"];
}

export interface DrainOptions {
  /** How long in-flight handlers may take before the connection closes anyway (default 30 s). */
  readonly timeoutMs?: number;
}

type ErrorHook = (error: HandlerError | Error) => void;

/**
 * One NATS connection and everything cozebus does with it: core publish,
 * subscribe, request/reply, lifecycle events and graceful drain. Create it
 * with `connect()` (shared) or `openBus()` (dedicated).
 */
export class Bus extends TypedEmitter implements AsyncDisposable {
  readonly #nc: NatsConnection;
  readonly #config: ResolvedConfig;
  readonly #onError: ErrorHook;
  #transport: NatsTransport | undefined;
  readonly #traceparent: (() => string | undefined) | undefined;
  readonly #subs = new Set<CoreSubscription>();
  readonly #templates = new Map<string, SubjectTemplate>();
  #connected = true;
  #closing: Promise<void> | undefined;
  #jetstream: Promise<JetStream> | undefined;
  /** The JetStream layer once open, for synchronous readers (metrics). */
  #jetstreamOpen: JetStream | undefined;

  private constructor(nc: NatsConnection, config: ResolvedConfig, options: BusOptions) {
    super();
    this.#nc = nc;
    this.#config = config;
    this.#traceparent = options.traceparent;
    const logger = config.logger;
    this.#onError = options.onError ?? ((err) => logger.error(`[cozebus] ${err.message}`));
    guardTransport(nc);
    void this.#watchStatus();
    void nc.closed().then(async (err) => {
      this.#connected = false;
      const js = this.#jetstream === undefined ? undefined : await this.#jetstream.catch(() => undefined);
      js?.abort(new ConnectionClosedError("the connection closed before the stream acked the event; publish it again with the same id"));
      this.emit("closed", { error: err instanceof Error ? err : undefined });
    });
  }

  /** Connects with an already-validated config; connection failures become typed errors. */
  static async open(config: ResolvedConfig, options: BusOptions): Promise<Bus> {
    let nc: NatsConnection;
    try {
      nc = await natsConnect(clientOptions(config));
    } catch (err) {
      throw explainConnectError(err, config);
    }
    return new Bus(nc, config, options);
  }

  async #watchStatus(): Promise<void> {
    const log = this.#config.logger;
    for await (const s of this.#nc.status()) {
      switch (s.type) {
        case "disconnect":
          this.#connected = false;
          log.warn(`[cozebus] disconnected from ${s.server}; reconnecting`);
          this.emit("disconnected", { server: s.server });
          break;
        case "reconnecting":
          this.emit("reconnecting", {});
          break;
        case "reconnect":
          guardTransport(this.#nc); // a reconnect brings a new transport object
          this.#connected = true;
          log.info(`[cozebus] reconnected to ${s.server}`);
          this.emit("reconnected", { server: s.server });
          break;
        case "ldm":
          log.warn(`[cozebus] ${s.server} is entering lame duck mode; the client will move to another server`);
          break;
        case "error":
          this.#report(s.error);
          this.emit("error", { error: s.error });
          break;
        default:
          break;
      }
    }
  }

  #report(err: Error): void {
    try {
      this.#onError(err);
    } catch {
      // The hook is user code: it must not break delivery either.
    }
  }

  /** Hands an error to the connection's error hook (`onError`), as cozebus does for failures nobody awaits. */
  report(err: Error): void {
    this.#report(err);
  }

  /**
   * This connection as the transport port, for the typed layer:
   * `workflow(bus)` and `domainClient(bus, def)` use it.
   */
  get transport(): NatsTransport {
    this.#transport ??= new NatsTransport(this);
    return this.#transport;
  }

  /** A loggable summary of the configuration (no secrets). */
  describe(): string {
    return describeConfig(this.#config);
  }

  /** The subject root in use (default `coze`). */
  get prefix(): string {
    return this.#config.subjectPrefix;
  }

  /** Replicas for streams this bus provisions (NATS_STREAM_REPLICAS). */
  get streamReplicas(): number {
    return this.#config.streamReplicas;
  }

  /** Prefix of this connection's reply inboxes (NATS_INBOX_PREFIX); undefined: nats.js's default, `_INBOX`. */
  get inboxPrefix(): string | undefined {
    return this.#config.inboxPrefix;
  }

  /** Where this bus's JetStream API is (NATS_JS_DOMAIN, NATS_JS_API_PREFIX, or the default). */
  get jetstreamApi(): JetStreamApiConfig {
    return this.#config.jetstreamApi;
  }

  /** Forced delivery mode: true = JetStream, false = core, undefined = each schema's default. */
  get useJetStream(): boolean | undefined {
    return this.#config.useJetStream;
  }

  /** The server this connection is on now, and what it supports. */
  get server(): ServerInfo {
    return serverInfo(this.#nc);
  }

  get connected(): boolean {
    return this.#connected && !this.#nc.isClosed();
  }

  get closed(): boolean {
    return this.#nc.isClosed();
  }

  /**
   * The underlying nats.js connection, for what cozebus does not cover (KV,
   * object store). Anything done through it bypasses cozebus's validation,
   * headers and handler safety.
   */
  get nats(): NatsConnection {
    return this.#nc;
  }

  #template(template: string | SubjectTemplate): SubjectTemplate {
    if (typeof template !== "string") return template;
    let t = this.#templates.get(template);
    if (!t) this.#templates.set(template, (t = SubjectTemplate.parse(template)));
    return t;
  }

  /** Fills a subject template with validated values under this bus's prefix. */
  subject(template: string | SubjectTemplate, values: Readonly<Record<string, TokenValue | undefined>>): string {
    return this.#template(template).build(values, this.prefix);
  }

  /** A subscription pattern for a template: omitted fields match any value. */
  pattern(template: string | SubjectTemplate, filter: Readonly<Record<string, TokenValue | undefined>> = {}): string {
    return templatePattern(this.#template(template), filter, this.prefix);
  }

  /**
   * Core publish (at most once) with CloudEvents headers. Throws instead of
   * silently dropping when the connection is down or closed.
   */
  publish(subject: string, data: Uint8Array, event: EventAttributes): PublishedEvent {
    checkPublishSubject(subject);
    if (this.#closing !== undefined && this.#nc.isClosed()) throw new ConnectionClosedError(`publish to "${subject}" not sent`);
    if (!this.connected) {
      if (this.#nc.isClosed()) throw new ConnectionClosedError(`publish to "${subject}" not sent`);
      throw new NotConnectedError(subject);
    }
    const { headers, id } = eventHeaders(event, this.#config.source, this.#traceparent?.());
    this.#nc.publish(subject, data, { headers });
    return { id, subject };
  }

  /**
   * Subscribes to a subject or pattern. Resolves once the server has the
   * interest, so nothing published afterwards is missed. Handler failures go
   * to the error hook and never stop the subscription.
   */
  async subscribe(pattern: string, handler: MessageHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    return this.#open(pattern, (msg) => handler(new Inbound(msg)), options);
  }

  /** Sends a request and waits for the reply. */
  async request(subject: string, data: Uint8Array, options: RequestOptions): Promise<InboundMessage> {
    checkPublishSubject(subject);
    if (this.#nc.isClosed()) throw new ConnectionClosedError(`request to "${subject}" not sent`);
    const { headers } = eventHeaders(options, this.#config.source, this.#traceparent?.());
    return sendRequest(this.#nc, subject, data, headers, options.timeoutMs ?? 5000, this.#config.inboxPrefix);
  }

  /**
   * Answers requests on a subject. A handler that throws answers with an
   * error the requester receives as a RemoteError (code from ServiceError,
   * else 500), and is also reported to the error hook here.
   */
  async serve(subject: string, handler: (request: InboundMessage) => Reply | Promise<Reply>, options: ServeOptions = {}): Promise<Subscription> {
    return this.#open(subject, (msg) => answer(msg, handler), {
      ...options,
      concurrency: options.concurrency ?? 64,
    });
  }

  async #open(pattern: string, run: (msg: Msg) => unknown, options: SubscribeOptions): Promise<Subscription> {
    if (this.#closing !== undefined || this.#nc.isClosed()) throw new ConnectionClosedError(`subscription to "${pattern}" not created`);
    const onError = options.onError ?? ((e: Error) => this.#report(e));
    const sub = await CoreSubscription.open(this.#nc, pattern, run, options, (e) => {
      try {
        onError(e);
      } catch {
        // see #report
      }
    });
    this.#subs.add(sub);
    void sub.closed.then(() => this.#subs.delete(sub));
    return sub;
  }

  /**
   * The JetStream layer of this bus (created on first use): streams, the
   * pipelined publisher, durable consumers, dead letters. Publisher options
   * apply on the first call only.
   */
  /** The JetStream layer if it is open already (without opening it); undefined before the first jetstream() resolved. */
  get openJetStream(): JetStream | undefined {
    return this.#jetstreamOpen;
  }

  jetstream(options: PublisherOptions = {}): Promise<JetStream> {
    if (this.#closing !== undefined || this.#nc.isClosed()) return Promise.reject(new ConnectionClosedError("JetStream not opened"));
    this.#jetstream ??= JetStream.open(
      {
        nc: this.#nc,
        prefix: this.prefix,
        streamReplicas: this.streamReplicas,
        source: this.#config.source,
        inboxPrefix: this.#config.inboxPrefix,
        jetstreamApi: this.#config.jetstreamApi,
        traceparent: () => this.#traceparent?.(),
        connected: () => this.connected,
        onReconnected: (listener) => this.on("reconnected", listener),
        supports: (feature) => this.server.supports(feature),
        version: () => this.server.version,
        report: (e) => this.#report(e),
      },
      options,
    );
    this.#jetstream.then(
      (js) => (this.#jetstreamOpen = js),
      () => (this.#jetstream = undefined),
    );
    return this.#jetstream;
  }

  /**
   * Graceful stop: no new deliveries, running and queued handlers finish
   * (up to `timeoutMs`), their replies and publishes are flushed, then the
   * connection closes. Rejects with DrainTimeoutError if handlers were still
   * running at the deadline (the connection is closed all the same).
   */
  drain(options: DrainOptions = {}): Promise<void> {
    this.#closing ??= this.#drain(options.timeoutMs ?? 30_000);
    return this.#closing;
  }

  async #drain(timeoutMs: number): Promise<void> {
    if (this.#nc.isClosed()) return;
    const subs = [...this.#subs];
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    // JetStream first: its consumers settle acks and its publisher waits for stream acks, both over this connection.
    const js = this.#jetstream === undefined ? undefined : await this.#jetstream.catch(() => undefined);
    const outcome = await Promise.race([
      (async () => {
        await js?.close(timeoutMs);
        await Promise.all(subs.map((s) => s.drain()));
        return "done" as const;
      })(),
      deadline,
    ]);
    clearTimeout(timer);
    try {
      await this.#nc.drain();
    } catch (err) {
      if (!this.#nc.isClosed()) await this.#nc.close();
      this.#config.logger.warn(`[cozebus] drain: ${describe(err)}`);
    }
    if (outcome === "timeout") {
      const running = subs.reduce((n, s) => n + s.inFlight, 0);
      throw new DrainTimeoutError(timeoutMs, running);
    }
  }

  /** Closes at once; running handlers can no longer reply or publish. Prefer `drain()`. */
  async close(): Promise<void> {
    this.#closing ??= Promise.resolve();
    if (!this.#nc.isClosed()) await this.#nc.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.drain();
  }
}
