import type { Bus, JetStream } from "@cozebus/nats";
import type { CozeProducer, SendOptions, SendReceipt } from "../api.js";
import type { CozeMode } from "../config.js";
import { BatchSendError, NameError, PayloadTooLargeError } from "../errors.js";
import { subjectOf } from "./naming.js";

/** The header Coze's core NATS producer sets for WithShardingKey (producer.go batchSendCore); cozebus sets it in both modes. */
export const SHARDING_KEY_HEADER = "Sharding-Key";

const JSON_CONTENT = "application/json";
/** Room left for the headers cozebus adds (CloudEvents, Nats-Msg-Id, Sharding-Key) within max_payload. */
const HEADER_ROOM = 1024;
const KEY = /^[^\r\n]*$/;

/** How a producer turns its input into bytes and a CloudEvents type; validation errors are thrown before anything is sent. */
export interface Encoder<B> {
  encode(body: B): Uint8Array;
  eventType(body: B): string;
}

export interface ProducerHost {
  readonly bus: Bus;
  readonly mode: CozeMode;
  /** JetStream mode: the JetStream layer, with the topic's stream already provisioned. */
  readonly js: JetStream | undefined;
}

/**
 * A producer bound to one topic. Differs from Coze's Go producer on purpose:
 * every message gets its own id (Go derives `Nats-Msg-Id` from the sharding
 * key as `<key>-<index in batch>`, so a second message with the same key
 * within the stream's 2-minute duplicate window is silently dropped), and
 * the stream is provisioned once, not on every send.
 */
export class NatsProducer<B> implements CozeProducer<B> {
  readonly topic: string;
  readonly #subject: string;

  constructor(
    readonly host: ProducerHost,
    topic: string,
    readonly encoder: Encoder<B>,
  ) {
    this.topic = topic;
    this.#subject = subjectOf(topic);
  }

  get mode(): CozeMode {
    return this.host.mode;
  }

  async send(body: B, options: SendOptions = {}): Promise<SendReceipt> {
    const [receipt] = await this.#send([body], options, false);
    return receipt!;
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
      throw new NameError("sharding key", String(key), "must be a string on one line (it travels in a header)");
    }
    // Encode everything first: a bad body fails the call before any message leaves.
    const encoded = bodies.map((b) => ({ data: this.encoder.encode(b), type: this.encoder.eventType(b) }));
    // The server refuses these anyway; checked here because nats.js throws inside @cozebus/nats's JetStream publisher,
    // which then retries until its timeout (a minute) instead of failing at once. Headers need room too.
    const max = this.host.bus.nats.info?.max_payload;
    if (max !== undefined) {
      const big = encoded.find((e) => e.data.length + HEADER_ROOM > max);
      if (big !== undefined) throw new PayloadTooLargeError(this.topic, big.data.length, max);
    }
    const attrs = (type: string) => ({
      type,
      contentType: JSON_CONTENT,
      ...(options.id !== undefined ? { id: options.id } : {}),
      // Coze treats an empty key as no key.
      ...(key ? { headers: { [SHARDING_KEY_HEADER]: key } } : {}),
    });
    const js = this.host.js;
    if (js === undefined) {
      const receipts: Array<SendReceipt | undefined> = [];
      const failures: Array<{ index: number; error: Error }> = [];
      encoded.forEach((e, index) => {
        try {
          receipts.push({ id: this.host.bus.publish(this.#subject, e.data, attrs(e.type)).id, topic: this.topic });
        } catch (error) {
          receipts.push(undefined);
          failures.push({ index, error: error as Error });
        }
      });
      // Go's core producer flushes after sending; so does this: resolved means the server has them.
      if (failures.length < encoded.length) await this.host.bus.nats.flush();
      if (failures.length > 0) {
        if (!batch) throw failures[0]!.error;
        throw new BatchSendError<SendReceipt>(this.topic, receipts, failures);
      }
      return receipts as SendReceipt[];
    }
    if (!batch) {
      const ack = await js.publish(this.#subject, encoded[0]!.data, attrs(encoded[0]!.type));
      return [{ id: ack.id, topic: this.topic, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate }];
    }
    const results = await js.publishBatch(encoded.map((e) => ({ subject: this.#subject, data: e.data, event: attrs(e.type) })));
    const receipts = results.map((r): SendReceipt | undefined =>
      r.ok ? { id: r.ack.id, topic: this.topic, stream: r.ack.stream, seq: r.ack.seq, duplicate: r.ack.duplicate } : undefined,
    );
    const failures = results.flatMap((r, index) => (r.ok ? [] : [{ index, error: r.error }]));
    if (failures.length > 0) throw new BatchSendError<SendReceipt>(this.topic, receipts, failures);
    return receipts as SendReceipt[];
  }
}
