import { clientsFor, resolveConfig, type Admin, type PulsarOptions, type PulsarWire, type ResolvedConfig, type WireProducer } from "@cozebus/pulsar";
import type { ConsumerOptions, CozeConsumer, CozeProducer, CozeStudioBus, RawBody, RawHandler, TypedConsumerOptions, TypedHandler } from "../api.js";
import type { Init } from "../messages/codec.js";
import type { CozeTopic } from "../topics.js";
import type { Encoder } from "../nats/producer.js";
import { consumePulsar, type PulsarConsumerHost } from "./consumer.js";
import { checkPulsarGroup, checkPulsarTopic, pulsarTopicOf } from "./naming.js";
import { DEFAULT_SOURCE, PulsarCozeProducer } from "./producer.js";

export interface CozeStudioPulsarOptions {
  /**
   * How to reach the broker, as @cozebus/pulsar reads it: MQ_NAME_SERVER
   * (`pulsar://pulsar:6650`, the address Coze's Go code connects to),
   * PULSAR_WEB_SERVICE_URL (the WebSocket + admin REST endpoint; default:
   * MQ_NAME_SERVER's hosts on port 8080), PULSAR_JWT_TOKEN (the token Go
   * sends too). Topics are always in public/default, as Go's bare names.
   */
  readonly pulsar?: Omit<PulsarOptions, "onError">;
  /** Where consumers registered here report failures, drops and dead letters, unless a consumer has its own (default: console.error). */
  readonly onError?: (error: Error) => void;
  /** `ce-source` of what this client sends (default `cozebus/coze-studio`); the bridge skips legacy messages it sent itself by it. */
  readonly source?: string;
  /** Tests and adapters: an existing wire and admin client instead of ones made from the config. */
  readonly clients?: { readonly wire: PulsarWire; readonly admin: Admin };
}

const UTF8 = new TextEncoder();
const raw = (topic: string): Encoder<RawBody> => ({
  encode: (b) => {
    if (typeof b === "string") return UTF8.encode(b);
    if (b instanceof Uint8Array) return b;
    throw new TypeError(`a message body for ${topic} must be a Uint8Array or a string, got ${typeof b}`);
  },
  eventType: () => `coze-studio.${topic}`,
});

/**
 * Coze Studio's event bus on Pulsar (COZE_MQ_TYPE=pulsar): producers bound
 * to a topic and consumers registered with a group, on the topics and
 * subscriptions Coze's Go services use, over @cozebus/pulsar's WebSocket
 * wire and admin REST clients. Get one with `cozeStudioPulsar()`.
 */
export class CozeStudioPulsar implements CozeStudioBus {
  readonly mode = "pulsar" as const;
  readonly config: ResolvedConfig;
  readonly wire: PulsarWire;
  readonly admin: Admin;
  readonly source: string;
  readonly #producers = new Map<string, WireProducer>();
  readonly #consumers = new Set<CozeConsumer>();
  readonly #onError: (e: Error) => void;
  readonly #ownsClients: boolean;

  constructor(options: CozeStudioPulsarOptions = {}) {
    this.config = resolveConfig(options.pulsar ?? {});
    this.#onError = options.onError ?? ((e) => console.error(`[cozebus coze-studio] ${e.message}`));
    const report = (e: Error): void => this.#report(e);
    const clients = options.clients ?? clientsFor(this.config, report);
    this.#ownsClients = options.clients === undefined;
    this.wire = clients.wire;
    this.admin = clients.admin;
    this.source = options.source ?? DEFAULT_SOURCE;
  }

  #wireProducer(topic: string): WireProducer {
    let p = this.#producers.get(topic);
    if (p === undefined) {
      p = this.wire.producer(pulsarTopicOf(topic));
      this.#producers.set(topic, p);
    }
    return p;
  }

  /** A producer for a Coze topic, typed by its codec (`producer(KNOWLEDGE)`), or for raw bytes on any topic. Nothing is provisioned: Go's client auto-creates the topic on its first producer, and the broker does the same for ours. */
  producer<T>(topic: CozeTopic<T>): Promise<CozeProducer<Init<T>>>;
  producer(topic: string): Promise<CozeProducer<RawBody>>;
  producer<T>(topic: CozeTopic<T> | string): Promise<CozeProducer<Init<T>> | CozeProducer<RawBody>> {
    try {
      const name = checkPulsarTopic(typeof topic === "string" ? topic : topic.topic);
      const wire = this.#wireProducer(name);
      if (typeof topic === "string") return Promise.resolve(new PulsarCozeProducer<RawBody>(name, pulsarTopicOf(name), wire, raw(name), this.source));
      const t = topic;
      return Promise.resolve(new PulsarCozeProducer<Init<T>>(name, pulsarTopicOf(name), wire, { encode: (e) => t.codec.encode(e), eventType: (e) => t.eventType(e) }, this.source));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * Coze's RegisterConsumer on Pulsar: a Shared subscription named after the
   * group. Typed (`registerConsumer(KNOWLEDGE, handler, { group })`) or raw
   * (`registerConsumer(topic, group, handler)`). Resolves once subscribed.
   * A group Coze's Go consumers hold (Exclusive) cannot be joined: use your own.
   */
  registerConsumer<T>(topic: CozeTopic<T>, handler: TypedHandler<T>, options?: TypedConsumerOptions): Promise<CozeConsumer>;
  registerConsumer(topic: string, group: string, handler: RawHandler, options?: ConsumerOptions): Promise<CozeConsumer>;
  async registerConsumer<T>(topic: CozeTopic<T> | string, a: TypedHandler<T> | string, b?: RawHandler | TypedConsumerOptions, c?: ConsumerOptions): Promise<CozeConsumer> {
    const host: PulsarConsumerHost = { wire: this.wire, admin: this.admin, nackDelayMs: this.config.nackDelayMs, report: (e) => this.#report(e) };
    let consumer: CozeConsumer;
    if (typeof topic === "string") {
      const h = b as RawHandler;
      if (typeof h !== "function") throw new TypeError(`registerConsumer(${JSON.stringify(topic)}, ${JSON.stringify(a)}, handler): the handler must be a function`);
      consumer = await consumePulsar(host, checkPulsarTopic(topic), checkPulsarGroup(a as string), (body) => body, (_e, msg) => h(msg), c ?? {});
    } else {
      const o = (b as TypedConsumerOptions | undefined) ?? {};
      const h = a as TypedHandler<T>;
      if (typeof h !== "function") throw new TypeError(`registerConsumer(${topic.topic}, handler): the handler must be a function`);
      consumer = await consumePulsar(host, checkPulsarTopic(topic.topic), checkPulsarGroup(o.group ?? topic.group), (body) => topic.codec.decode(body), (e, msg) => h(e, msg), o);
    }
    this.#consumers.add(consumer);
    return consumer;
  }

  #report(e: Error): void {
    try {
      this.#onError(e);
    } catch {
      // user code must not break delivery
    }
  }

  /** Stops every consumer registered here, flushes the producers, and closes the sockets this client opened. */
  async close(): Promise<void> {
    await Promise.all([...this.#consumers].map((c) => c.stop()));
    this.#consumers.clear();
    await Promise.all([...this.#producers.values()].map((p) => p.close()));
    this.#producers.clear();
    if (this.#ownsClients) await this.wire.close();
  }
}

/**
 * Coze Studio's bus on Pulsar, from the deployment's environment
 * (MQ_NAME_SERVER, PULSAR_WEB_SERVICE_URL, PULSAR_JWT_TOKEN). Checks that the
 * web service answers and takes the token (as `connectPulsar()` does) unless
 * `pulsar.verify` is false.
 */
export async function cozeStudioPulsar(options: CozeStudioPulsarOptions = {}): Promise<CozeStudioPulsar> {
  const c = new CozeStudioPulsar(options);
  if (options.clients === undefined && c.config.verify) await c.admin.clusters();
  return c;
}
