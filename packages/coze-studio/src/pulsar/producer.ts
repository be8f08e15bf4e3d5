import { randomUUID } from "node:crypto";
import { readableMessageId, type WireProducer } from "@cozebus/pulsar";
import type { CozeProducer, SendOptions, SendReceipt } from "../api.js";
import { BatchSendError, NameError } from "../errors.js";
import type { Encoder } from "../nats/producer.js";

/**
 * The message properties cozebus sets (CloudEvents names, as @cozebus/pulsar
 * does). Coze's Go consumer reads only the payload (consumer.go builds
 * eventbus.Message from msg.Payload()), so properties never change what Go
 * does; the sharding key is the message key, as Go's producer sets it.
 */
export const PULSAR_PROPS = {
  id: "ce-id",
  type: "ce-type",
  source: "ce-source",
  time: "ce-time",
  specversion: "ce-specversion",
  contentType: "content-type",
} as const;

export const DEFAULT_SOURCE = "cozebus/coze-studio";
const KEY = /^[^\r\n]*$/;

/**
 * A producer bound to one topic on Pulsar, like Coze's producer.go: the
 * payload is the JSON bytes, the message key the sharding key (Go:
 * `msg.Key = *option.ShardingKey`). Unlike Go it sets no producer name (Go's
 * `<group>-producer` is unique per topic on the broker, so a second
 * producer of that name, a second replica, is refused) and adds the ce-*
 * properties, which Go ignores.
 */
export class PulsarCozeProducer<B> implements CozeProducer<B> {
  readonly mode = "pulsar" as const;

  constructor(
    readonly topic: string,
    readonly fullTopic: string,
    private readonly wire: WireProducer,
    private readonly encoder: Encoder<B>,
    private readonly source: string = DEFAULT_SOURCE,
  ) {}

  async send(body: B, options: SendOptions = {}): Promise<SendReceipt> {
    const [r] = await this.#send([body], options, false);
    return r!;
  }

  sendBatch(bodies: readonly B[], options: SendOptions = {}): Promise<SendReceipt[]> {
    if (options.id !== undefined && bodies.length > 1) {
      return Promise.reject(new NameError("message id", options.id, "one id cannot name several messages: leave it out for a batch (each message gets its own)"));
    }
    return this.#send(bodies, options, true);
  }

  async #send(bodies: readonly B[], options: SendOptions, batch: boolean): Promise<SendReceipt[]> {
    const key = options.shardingKey;
    if (key !== undefined && (typeof key !== "string" || !KEY.test(key))) {
      throw new NameError("sharding key", String(key), "must be a string on one line");
    }
    // Encode everything first: a bad body fails the call before any message leaves.
    const encoded = bodies.map((b) => ({ data: this.encoder.encode(b), type: this.encoder.eventType(b), id: options.id ?? randomUUID() }));
    const results = await Promise.allSettled(
      encoded.map((e) =>
        this.wire.send({
          data: e.data,
          // Coze treats an empty key as no key (it sets Key only for a given sharding key).
          ...(key ? { key } : {}),
          properties: {
            [PULSAR_PROPS.specversion]: "1.0",
            [PULSAR_PROPS.id]: e.id,
            [PULSAR_PROPS.type]: e.type,
            [PULSAR_PROPS.source]: this.source,
            [PULSAR_PROPS.time]: new Date().toISOString(),
            [PULSAR_PROPS.contentType]: "application/json",
          },
        }),
      ),
    );
    const receipts = results.map((r, i): SendReceipt | undefined =>
      r.status === "fulfilled" ? { id: encoded[i]!.id, topic: this.topic, messageId: readableMessageId(r.value.messageId) } : undefined,
    );
    const failures = results.flatMap((r, index) => (r.status === "rejected" ? [{ index, error: r.reason as Error }] : []));
    if (failures.length > 0) {
      if (!batch) throw failures[0]!.error;
      throw new BatchSendError<SendReceipt>(this.topic, receipts, failures);
    }
    return receipts as SendReceipt[];
  }
}
