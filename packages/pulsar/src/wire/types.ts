/**
 * The wire layer: what the transport needs from a Pulsar client, nothing
 * more. The WebSocket implementation (ws-wire.ts) is the only one today;
 * a native-client adapter (pulsar-client) would implement the same three
 * interfaces and leave everything above untouched.
 */

export interface OutgoingMessage {
  readonly data: Uint8Array;
  readonly key?: string;
  readonly properties: Readonly<Record<string, string>>;
  /** Delayed delivery (Shared subscriptions only): not dispatched before this time, per the broker's tick. */
  readonly deliverAfterMs?: number;
}

export interface SendReceipt {
  /** The broker's message id, opaque (base64 of MessageIdData on the WebSocket API). */
  readonly messageId: string;
}

export interface WireProducer {
  readonly topic: string;
  /** Pipelined: many sends may be in flight; each resolves with its own receipt. */
  send(message: OutgoingMessage): Promise<SendReceipt>;
  /** Resolves once every send made so far is settled. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface IncomingMessage {
  /** Opaque id to ack / nack with. */
  readonly messageId: string;
  readonly data: Uint8Array;
  readonly properties: Readonly<Record<string, string>>;
  readonly key: string | undefined;
  readonly publishTime: string | undefined;
  /** 0 on the first delivery. */
  readonly redeliveryCount: number;
}

export type SubscriptionType = "Shared" | "Key_Shared" | "Failover" | "Exclusive";

export interface ConsumerOptions {
  readonly subscriptionType: SubscriptionType;
  /** Messages handed to this consumer and not yet acked/nacked, at most (the WebSocket proxy's pending limit; capped at 1000 by the broker). */
  readonly receiverQueueSize: number;
  readonly negativeAckRedeliveryDelayMs: number;
  /** The broker's own dead-lettering after this many redeliveries (deliveries = n + 1). */
  readonly deadLetter?: { readonly topic: string; readonly maxRedeliverCount: number };
  readonly consumerName?: string;
}

export interface WireConsumer {
  readonly topic: string;
  readonly subscription: string;
  /** Fire and forget: an ack made while the socket is down is lost, and the broker redelivers the message (callers dedupe). */
  ack(messageId: string): void;
  nack(messageId: string): void;
  /** Closes the socket; unacked messages go back to the subscription. */
  close(): Promise<void>;
}

export interface ConsumerHooks {
  onMessage(message: IncomingMessage): void;
  /** The socket dropped and will be reopened: messages not yet acked will come again. */
  onDisconnect?(error: Error): void;
  onReconnect?(): void;
  /** An error while reconnecting (it keeps trying). */
  onError?(error: Error): void;
}

export interface PulsarWire {
  /** A producer on a full topic name (`persistent://t/ns/topic`); it connects on first use and reconnects on its own. */
  producer(topic: string): WireProducer;
  /** Resolves once subscribed (the subscription exists from then on); rejects with AuthError / PermissionError / ConnectError. */
  consumer(topic: string, subscription: string, options: ConsumerOptions, hooks: ConsumerHooks): Promise<WireConsumer>;
  close(): Promise<void>;
}
