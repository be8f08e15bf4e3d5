/**
 * The shape of Coze Studio's event bus interface (backend/infra/eventbus/eventbus.go:
 * Producer.Send / BatchSend, ConsumerService.RegisterConsumer, Message) in
 * TypeScript. Transport-neutral: the NATS implementation is in nats/, and a
 * Pulsar one in pulsar/.
 */
import type { Headers, RetryPolicyInput } from "@cozebus/nats";
import type { CozeMode } from "./config.js";
import type { Init } from "./messages/codec.js";
import type { CozeTopic } from "./topics.js";

/** Which bus a producer or consumer runs on: NATS core, NATS JetStream, or Pulsar. */
export type CozeTransportMode = CozeMode | "pulsar";

export interface SendOptions {
  /**
   * Coze's WithShardingKey. Sent as the `Sharding-Key` header (as Coze's core
   * NATS producer does). Unlike Coze's JetStream producer it does not become
   * the message id, so two messages with the same key are both kept.
   */
  readonly shardingKey?: string;
  /** The message id (`Nats-Msg-Id`, `ce-id`); generated when omitted. Reuse one only to resend the same message. */
  readonly id?: string;
}

export interface SendReceipt {
  readonly id: string;
  readonly topic: string;
  /** JetStream only: where the message is stored. */
  readonly stream?: string;
  readonly seq?: number;
  /** JetStream only: the stream already had a message with this id (a resend), so it kept one. */
  readonly duplicate?: boolean;
  /** Pulsar only: the broker's message id, `ledger:entry` (plus `:partition:batch` when partitioned or batched). */
  readonly messageId?: string;
}

/** A producer bound to one topic, as Coze's NewProducer(nameServer, topic, group). */
export interface CozeProducer<B> {
  readonly topic: string;
  readonly mode: CozeTransportMode;
  /** Resolves once sent (core: flushed to the server) or stored (JetStream: the stream's ack). */
  send(body: B, options?: SendOptions): Promise<SendReceipt>;
  /**
   * Sends many. Every body is validated before anything is sent. Resolves
   * with one receipt per body, in order; if some fail, rejects with a
   * BatchSendError listing which (the others were sent).
   */
  sendBatch(bodies: readonly B[], options?: SendOptions): Promise<SendReceipt[]>;
}

/** A received message, as Coze's eventbus.Message plus what cozebus knows about its delivery. */
export interface CozeMessage {
  readonly topic: string;
  readonly group: string;
  readonly body: Uint8Array;
  /** The `Sharding-Key` header, when the sender set one (cozebus always does for keyed sends; Coze's Go code only in core mode). */
  readonly shardingKey: string | undefined;
  /** The message id: `ce-id` from cozebus senders, `Nats-Msg-Id` from Coze's keyed JetStream sends, else undefined. */
  readonly id: string | undefined;
  readonly headers: Headers;
  /** 1 on the first delivery. */
  readonly attempt: number;
  /** JetStream only. */
  readonly stream?: string;
  readonly sequence?: number;
  /** Pulsar only: the broker's message id (`ledger:entry[:partition:batch]`), unique on its topic. */
  readonly messageId?: string;
}

export type RawHandler = (message: CozeMessage) => void | Promise<void>;
export type TypedHandler<T> = (event: T, message: CozeMessage) => void | Promise<void>;

export interface ConsumerOptions {
  /** Handlers running at once in this process (default 1: one at a time, as Coze's Fetch(1) loop). */
  readonly concurrency?: number;
  /**
   * How failures are retried: `maxDeliveries` (default 5), `backoff`
   * (default 1 s doubling to 60 s, jittered), `ackWaitMs` (default 30 s, the
   * value Coze's consumers have). JetStream: nak with the delay, then the
   * dead-letter stream. Core: retried in place, then reported as
   * DeliveryFailedError (core NATS cannot redeliver).
   */
  readonly retry?: RetryPolicyInput;
  /**
   * What a NonRetryableError from the handler does. "drop" (default): ack
   * and report an EventDroppedError, as Coze's knowledge handler turns
   * ErrKnowledgeNonRetryableCode into success. "dead-letter": keep it in the
   * dead-letter stream (JetStream) instead.
   */
  readonly nonRetryable?: "drop" | "dead-letter";
  /** Handler failures, drops and undecodable messages (default: the bus's error hook). */
  readonly onError?: (error: Error) => void;
}

export interface TypedConsumerOptions extends ConsumerOptions {
  /** Default: the topic's Coze group (e.g. cg_knowledge), so cozebus instances share the work with Coze's. */
  readonly group?: string;
}

export interface CozeConsumerStats {
  readonly handled: number;
  /** Failed attempts that were (or will be) retried. */
  readonly retried: number;
  /** Sent to the dead-letter stream (JetStream) or, in core mode, reported as undeliverable. */
  readonly deadLettered: number;
  /** Acked after a NonRetryableError (nonRetryable: "drop"). */
  readonly dropped: number;
}

export interface CozeConsumer {
  readonly topic: string;
  readonly group: string;
  readonly mode: CozeTransportMode;
  readonly stats: CozeConsumerStats;
  /** Stops taking messages, lets running handlers finish, settles their acks. */
  stop(): Promise<void>;
}

/** A raw body: bytes, or a string sent as UTF-8. */
export type RawBody = Uint8Array | string;

/**
 * Coze Studio's event bus on either transport: what `cozeStudio(bus)`
 * (NATS) and `cozeStudioPulsar()` (Pulsar) both are, and what the bridge
 * consumes from.
 */
export interface CozeStudioBus {
  readonly mode: CozeTransportMode;
  producer<T>(topic: CozeTopic<T>): Promise<CozeProducer<Init<T>>>;
  producer(topic: string): Promise<CozeProducer<RawBody>>;
  registerConsumer<T>(topic: CozeTopic<T>, handler: TypedHandler<T>, options?: TypedConsumerOptions): Promise<CozeConsumer>;
  registerConsumer(topic: string, group: string, handler: RawHandler, options?: ConsumerOptions): Promise<CozeConsumer>;
  /** Stops every consumer registered here. */
  close(): Promise<void>;
}
