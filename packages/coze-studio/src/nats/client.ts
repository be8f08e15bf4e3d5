import type { Bus, EnsureResult, JetStream } from "@cozebus/nats";
import type { ConsumerOptions, CozeConsumer, CozeProducer, RawHandler, TypedConsumerOptions, TypedHandler } from "../api.js";
import { modeFromEnv, type CozeMode, type Env } from "../config.js";
import type { Init } from "../messages/codec.js";
import { COZE_TOPICS, type CozeTopic } from "../topics.js";
import { consumeCore, consumeJetStream, type ConsumerHost } from "./consumer.js";
import { checkGroup, checkTopic, streamSpecOf } from "./naming.js";
import { NatsProducer, type Encoder } from "./producer.js";

export interface CozeStudioOptions {
  /** Core or JetStream. Default: NATS_USE_JETSTREAM read exactly as Coze's Go code reads it (only `true` is JetStream). */
  readonly mode?: CozeMode;
  /** Environment to read the mode from instead of process.env. */
  readonly env?: Env;
  /**
   * Replicas for the streams cozebus creates (default 1: Coze's Go code
   * creates them with one replica and never reads NATS_STREAM_REPLICAS). A
   * higher value raises an existing stream too (provisioning is additive).
   */
  readonly streamReplicas?: number;
  /**
   * Where consumers registered here report handler failures, drops and
   * undecodable messages, unless a consumer has its own `onError`
   * (default: console.error).
   */
  readonly onError?: (error: Error) => void;
}

type Body = Uint8Array | string;
const UTF8 = new TextEncoder();

const raw = (topic: string): Encoder<Body> => ({
  encode: (b) => {
    if (typeof b === "string") return UTF8.encode(b);
    if (b instanceof Uint8Array) return b;
    throw new TypeError(`a message body for ${topic} must be a Uint8Array or a string, got ${typeof b}`);
  },
  eventType: () => `coze-studio.${topic}`,
});

const typedEncoder = <T>(t: CozeTopic<T>): Encoder<Init<T>> => ({
  encode: (e) => t.codec.encode(e),
  eventType: (e) => t.eventType(e),
});

/**
 * Coze Studio's event bus on a cozebus Bus: producers bound to a topic and
 * consumers registered with a group, on the same subjects, queue groups,
 * streams and durable consumers as Coze's Go services, so both can run side
 * by side (and either can start first). Get one with `cozeStudio(bus)`.
 */
export class CozeStudio {
  readonly mode: CozeMode;
  readonly bus: Bus;
  readonly #replicas: number;
  readonly #streams = new Map<string, Promise<EnsureResult>>();
  readonly #consumers = new Set<CozeConsumer>();
  readonly #onError: (error: Error) => void;
  #dlq: Promise<EnsureResult> | undefined;

  constructor(bus: Bus, options: CozeStudioOptions = {}) {
    this.bus = bus;
    this.mode = options.mode ?? modeFromEnv(options.env ?? process.env);
    this.#replicas = options.streamReplicas ?? 1;
    this.#onError = options.onError ?? ((e) => console.error(`[cozebus coze-studio] ${e.message}`));
  }

  async #jetstream(): Promise<JetStream | undefined> {
    return this.mode === "jetstream" ? this.bus.jetstream() : undefined;
  }

  /**
   * JetStream mode: creates each topic's stream as Coze's Go code would
   * (same name, subject and limits), or provisions an existing one
   * additively, plus the dead-letter stream. Once per topic per process
   * (Coze's Go producer re-checks the stream on every send). Core mode: nothing.
   */
  async provision(topics: ReadonlyArray<string | CozeTopic<unknown>> = COZE_TOPICS): Promise<EnsureResult[]> {
    const js = await this.#jetstream();
    if (js === undefined) return [];
    const names = topics.map((t) => checkTopic(typeof t === "string" ? t : t.topic));
    let dlq = this.#dlq;
    if (dlq === undefined) {
      dlq = this.#dlq = js.ensureStream(js.deadLetterStream());
      dlq.catch(() => (this.#dlq = undefined));
    }
    const results = names.map((topic) => {
      let p = this.#streams.get(topic);
      if (p === undefined) {
        p = js.ensureStream(streamSpecOf(topic, this.#replicas));
        this.#streams.set(topic, p);
        p.catch(() => this.#streams.delete(topic));
      }
      return p;
    });
    return Promise.all([...results, dlq]);
  }

  /** A producer for a Coze topic, typed by its codec (`producer(KNOWLEDGE)`), or for raw bytes on any topic (`producer("opencoze_knowledge")`). */
  producer<T>(topic: CozeTopic<T>): Promise<CozeProducer<Init<T>>>;
  producer(topic: string): Promise<CozeProducer<Body>>;
  async producer<T>(topic: CozeTopic<T> | string): Promise<CozeProducer<Init<T>> | CozeProducer<Body>> {
    const name = checkTopic(typeof topic === "string" ? topic : topic.topic);
    await this.provision([name]);
    const host = { bus: this.bus, mode: this.mode, js: await this.#jetstream() };
    return typeof topic === "string" ? new NatsProducer<Body>(host, name, raw(name)) : new NatsProducer<Init<T>>(host, name, typedEncoder(topic));
  }

  /**
   * Coze's RegisterConsumer. Typed: `registerConsumer(KNOWLEDGE, (event, msg) => ...)`
   * decodes each message (group defaults to the topic's Coze group). Raw:
   * `registerConsumer(topic, group, (msg) => ...)` hands the bytes.
   * Resolves once the subscription is live, so nothing sent afterwards is
   * missed. The handler returning = ack; throwing = retry with backoff;
   * NonRetryableError = ack and drop (see ConsumerOptions.nonRetryable).
   */
  registerConsumer<T>(topic: CozeTopic<T>, handler: TypedHandler<T>, options?: TypedConsumerOptions): Promise<CozeConsumer>;
  registerConsumer(topic: string, group: string, handler: RawHandler, options?: ConsumerOptions): Promise<CozeConsumer>;
  async registerConsumer<T>(
    topic: CozeTopic<T> | string,
    a: TypedHandler<T> | string,
    b?: RawHandler | TypedConsumerOptions,
    c?: ConsumerOptions,
  ): Promise<CozeConsumer> {
    let name: string;
    let group: string;
    let options: ConsumerOptions;
    let decode: (body: Uint8Array) => unknown;
    let handle: (event: unknown, msg: Parameters<RawHandler>[0]) => void | Promise<void>;
    if (typeof topic === "string") {
      name = checkTopic(topic);
      group = checkGroup(a as string);
      const h = b as RawHandler;
      if (typeof h !== "function") throw new TypeError(`registerConsumer(${JSON.stringify(topic)}, ${JSON.stringify(a)}, handler): the handler must be a function`);
      options = c ?? {};
      decode = (body) => body;
      handle = (_e, msg) => h(msg);
    } else {
      const o = (b as TypedConsumerOptions | undefined) ?? {};
      name = checkTopic(topic.topic);
      group = checkGroup(o.group ?? topic.group);
      const h = a as TypedHandler<T>;
      if (typeof h !== "function") throw new TypeError(`registerConsumer(${topic.topic}, handler): the handler must be a function`);
      options = o;
      decode = (body) => topic.codec.decode(body);
      handle = (e, msg) => h(e as T, msg);
    }
    await this.provision([name]);
    const js = await this.#jetstream();
    const host: ConsumerHost = { bus: this.bus, mode: this.mode, js, report: (e) => this.#report(e) };
    const consumer = js === undefined ? await consumeCore(host, name, group, decode, handle, options) : await consumeJetStream(host, js, name, group, decode, handle, options);
    this.#consumers.add(consumer);
    return consumer;
  }

  #report(e: Error): void {
    try {
      this.#onError(e);
    } catch {
      // the hook is user code: it must not break delivery
    }
  }

  /** Stops every consumer registered here (the bus stays open; `bus.drain()` also stops them). */
  async close(): Promise<void> {
    await Promise.all([...this.#consumers].map((c) => c.stop()));
    this.#consumers.clear();
  }
}

/** Coze Studio's bus on this cozebus Bus. Nothing is provisioned until the first producer or consumer (or `provision()`). */
export function cozeStudio(bus: Bus, options: CozeStudioOptions = {}): CozeStudio {
  return new CozeStudio(bus, options);
}
