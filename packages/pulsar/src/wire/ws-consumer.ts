import WebSocket from "ws";
import { describe } from "@cozebus/core/transport";
import type { ConsumerHooks, ConsumerOptions, IncomingMessage, WireConsumer } from "./types.js";
import { OpenError, backoff, closeSocket, keepAlive, openSocket, sleep, type SocketSettings } from "./socket.js";
import { rawToString, topicPath } from "./ws-producer.js";

export interface ConsumerSettings extends SocketSettings {
  readonly reconnectInitialMs: number;
  readonly reconnectMaxMs: number;
}

interface ConsumerFrame {
  messageId?: unknown;
  payload?: unknown;
  properties?: unknown;
  key?: unknown;
  publishTime?: unknown;
  redeliveryCount?: unknown;
}

/**
 * One WebSocket consumer (topic + subscription). Push mode: the broker's
 * WebSocket proxy hands out up to `receiverQueueSize` messages and one more
 * for each ack or nack, which bounds what this process holds. A dropped
 * socket is reopened with backoff until close(); the broker redelivers what
 * was not acked.
 */
export class WsConsumer implements WireConsumer {
  #ws: WebSocket | undefined;
  #stopKeepAlive: (() => void) | undefined;
  #closed = false;
  readonly #path: string;

  private constructor(
    readonly topic: string,
    readonly subscription: string,
    private readonly s: ConsumerSettings,
    options: ConsumerOptions,
    private readonly hooks: ConsumerHooks,
  ) {
    const q = new URLSearchParams({
      subscriptionType: options.subscriptionType,
      receiverQueueSize: String(Math.min(1000, Math.max(1, options.receiverQueueSize))),
      negativeAckRedeliveryDelay: String(options.negativeAckRedeliveryDelayMs),
    });
    if (options.deadLetter) {
      q.set("deadLetterTopic", options.deadLetter.topic);
      q.set("maxRedeliverCount", String(options.deadLetter.maxRedeliverCount));
    }
    if (options.consumerName !== undefined) q.set("consumerName", options.consumerName);
    this.#path = `/consumer/${topicPath(topic)}/${encodeURIComponent(subscription)}?${q.toString()}`;
  }

  static async open(topic: string, subscription: string, s: ConsumerSettings, options: ConsumerOptions, hooks: ConsumerHooks): Promise<WsConsumer> {
    const c = new WsConsumer(topic, subscription, s, options, hooks);
    try {
      c.#attach(await openSocket(s, c.#path, `topic ${topic} (subscription ${subscription})`));
    } catch (err) {
      throw err instanceof OpenError ? err.error : err;
    }
    return c;
  }

  ack(messageId: string): void {
    this.#write({ messageId });
  }

  nack(messageId: string): void {
    this.#write({ type: "negativeAcknowledge", messageId });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stopKeepAlive?.();
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws) await closeSocket(ws);
  }

  #write(frame: object): void {
    const ws = this.#ws;
    // Down: the broker redelivers the message to the next socket, where the dedupe set settles it again.
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  }

  #attach(ws: WebSocket): void {
    this.#ws = ws;
    this.#stopKeepAlive = keepAlive(ws);
    ws.on("message", (data: WebSocket.RawData) => this.#onFrame(data));
    ws.on("error", () => {}); // reported through "close"
    ws.on("close", (code: number, reason: Buffer) => {
      this.#stopKeepAlive?.();
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      if (this.#closed) return;
      this.hooks.onDisconnect?.(new Error(`consumer ${this.subscription} on ${this.topic}: socket closed (${code}${reason.length ? ` ${reason.toString()}` : ""}); reconnecting`));
      void this.#reconnect();
    });
  }

  async #reconnect(): Promise<void> {
    for (let attempt = 0; !this.#closed; attempt++) {
      await sleep(backoff(attempt, this.s.reconnectInitialMs, this.s.reconnectMaxMs));
      if (this.#closed) return;
      try {
        const ws = await openSocket(this.s, this.#path, `topic ${this.topic} (subscription ${this.subscription})`);
        if (this.#closed) {
          await closeSocket(ws);
          return;
        }
        this.#attach(ws);
        this.hooks.onReconnect?.();
        return;
      } catch (err) {
        if (attempt === 0 || attempt % 10 === 9) this.hooks.onError?.(new Error(`consumer ${this.subscription} on ${this.topic}: reconnect failed: ${describe(err)} (still trying)`, { cause: err }));
      }
    }
  }

  #onFrame(data: WebSocket.RawData): void {
    let f: ConsumerFrame;
    try {
      f = JSON.parse(rawToString(data)) as ConsumerFrame;
    } catch {
      this.hooks.onError?.(new Error(`consumer ${this.subscription} on ${this.topic}: an undecodable frame was ignored`));
      return;
    }
    if (typeof f.messageId !== "string") return; // not a message (the proxy sends nothing else in push mode)
    const properties: Record<string, string> = {};
    if (f.properties && typeof f.properties === "object") {
      for (const [k, v] of Object.entries(f.properties as Record<string, unknown>)) if (typeof v === "string") properties[k] = v;
    }
    const msg: IncomingMessage = {
      messageId: f.messageId,
      data: typeof f.payload === "string" ? new Uint8Array(Buffer.from(f.payload, "base64")) : new Uint8Array(),
      properties,
      key: typeof f.key === "string" ? f.key : undefined,
      publishTime: typeof f.publishTime === "string" ? f.publishTime : undefined,
      redeliveryCount: typeof f.redeliveryCount === "number" ? f.redeliveryCount : 0,
    };
    this.hooks.onMessage(msg);
  }
}
