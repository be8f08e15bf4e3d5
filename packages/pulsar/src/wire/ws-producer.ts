import WebSocket from "ws";
import { ConnectionClosedError, PublishRejectedError, describe } from "@cozebus/core/transport";
import type { OutgoingMessage, SendReceipt, WireProducer } from "./types.js";
import { OpenError, backoff, closeSocket, keepAlive, openSocket, type SocketSettings } from "./socket.js";

export interface ProducerSettings extends SocketSettings {
  readonly maxFrameBytes: number;
  readonly sendTimeoutMs: number;
  readonly reconnectInitialMs: number;
  readonly reconnectMaxMs: number;
}

/** No receipt within the send timeout (reconnects included): the event may or may not be stored. */
export class SendTimeoutError extends Error {
  constructor(
    readonly topic: string,
    readonly attempts: number,
    readonly elapsedMs: number,
  ) {
    super(`no receipt from ${topic} within ${elapsedMs} ms (${attempts} attempt(s))`);
  }
}

interface Pending {
  readonly context: string;
  readonly frame: string;
  readonly bytes: number;
  readonly started: number;
  attempts: number;
  /** The socket it was last written to; resent when another socket takes over. */
  sentOn: WebSocket | undefined;
  timer: NodeJS.Timeout;
  resolve(r: SendReceipt): void;
  reject(e: Error): void;
}

interface ProducerAck {
  result?: string;
  messageId?: string;
  context?: string;
  errorMsg?: string;
  errorCode?: number;
}

/**
 * One WebSocket producer on one topic. Sends are pipelined: each frame
 * carries a `context` that its receipt echoes, so many can be in flight.
 * When the socket drops, unreceipted frames are written again on the next
 * socket (same context and ce-id: a resend after a lost receipt may store
 * the event twice, which at-least-once allows and consumers dedupe by ce-id).
 */
export class WsProducer implements WireProducer {
  #ws: WebSocket | undefined;
  #opening: Promise<void> | undefined;
  #stopKeepAlive: (() => void) | undefined;
  readonly #pending = new Map<string, Pending>();
  #seq = 0;
  #closed = false;
  #failures = 0;
  #frameLimit: number;
  readonly #idle: Array<() => void> = [];

  constructor(
    readonly topic: string,
    private readonly s: ProducerSettings,
    private readonly onError: (e: Error) => void,
  ) {
    this.#frameLimit = s.maxFrameBytes;
  }

  send(message: OutgoingMessage): Promise<SendReceipt> {
    if (this.#closed) return Promise.reject(new ConnectionClosedError(`publish to ${this.topic}`));
    const context = String(++this.#seq);
    const body: Record<string, unknown> = {
      payload: Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength).toString("base64"),
      properties: message.properties,
      context,
    };
    if (message.key !== undefined && message.key !== "") body["key"] = message.key;
    if (message.deliverAfterMs !== undefined) body["deliverAfterMs"] = message.deliverAfterMs;
    const frame = JSON.stringify(body);
    const bytes = Buffer.byteLength(frame);
    if (bytes > this.#frameLimit) {
      return Promise.reject(tooLarge(this.topic, message.data.byteLength, bytes, this.#frameLimit));
    }
    return new Promise<SendReceipt>((resolve, reject) => {
      const p: Pending = {
        context,
        frame,
        bytes,
        started: Date.now(),
        attempts: 0,
        sentOn: undefined,
        timer: setTimeout(() => this.#settle(p, new SendTimeoutError(this.topic, p.attempts, Date.now() - p.started)), this.s.sendTimeoutMs),
        resolve,
        reject,
      };
      this.#pending.set(context, p);
      this.#pump();
    });
  }

  flush(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    this.#stopKeepAlive?.();
    if (this.#ws) await closeSocket(this.#ws);
    this.#ws = undefined;
  }

  /** Writes every pending frame not yet on the current socket, opening one first when needed. */
  #pump(): void {
    const ws = this.#ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      for (const p of this.#pending.values()) {
        if (p.sentOn === ws) continue;
        p.sentOn = ws;
        p.attempts++;
        ws.send(p.frame);
      }
      return;
    }
    if (this.#opening || this.#closed || this.#pending.size === 0) return;
    this.#opening = this.#open().finally(() => {
      this.#opening = undefined;
      this.#pump();
    });
  }

  async #open(): Promise<void> {
    if (this.#failures > 0) await new Promise((r) => setTimeout(r, backoff(this.#failures - 1, this.s.reconnectInitialMs, this.s.reconnectMaxMs)));
    if (this.#closed || this.#pending.size === 0) return;
    const path = `/producer/${topicPath(this.topic)}`;
    let ws: WebSocket;
    try {
      ws = await openSocket(this.s, path, `topic ${this.topic}`);
    } catch (err) {
      this.#failures++;
      const e = err instanceof OpenError ? err.error : (err as Error);
      if (err instanceof OpenError && !err.retryable) {
        // The same token will be refused again: fail what waits instead of retrying until the timeout.
        for (const p of [...this.#pending.values()]) this.#settle(p, e);
      } else if (this.#failures === 1 || this.#failures % 10 === 0) {
        this.onError(new Error(`producer for ${this.topic}: ${describe(e)} (retrying)`, { cause: e }));
      }
      return;
    }
    this.#failures = 0;
    this.#ws = ws;
    this.#stopKeepAlive = keepAlive(ws);
    ws.on("message", (data: WebSocket.RawData) => this.#onReceipt(data));
    ws.on("error", () => {}); // reported through "close"
    ws.on("close", (code: number, reason: Buffer) => {
      this.#stopKeepAlive?.();
      if (this.#ws === ws) this.#ws = undefined;
      if (code === 1009) this.#tooLargeClose(reason.toString());
      if (!this.#closed) this.#pump();
    });
  }

  /**
   * The broker closed the socket for a frame over its limit (1009): our
   * limit was set higher than the broker's. Learn its limit from the close
   * reason, fail the frames over it, and resend the others on a new socket.
   */
  #tooLargeClose(reason: string): void {
    const m = /max of \[(\d+)\]/.exec(reason);
    const limit = m ? Number(m[1]) : undefined;
    if (limit !== undefined && limit < this.#frameLimit) this.#frameLimit = limit;
    for (const p of [...this.#pending.values()]) {
      if (p.bytes > this.#frameLimit || limit === undefined) this.#settle(p, tooLarge(this.topic, undefined, p.bytes, limit ?? this.#frameLimit, reason));
    }
  }

  #onReceipt(data: WebSocket.RawData): void {
    let ack: ProducerAck;
    try {
      ack = JSON.parse(rawToString(data)) as ProducerAck;
    } catch {
      this.onError(new Error(`producer for ${this.topic}: an undecodable receipt frame was ignored`));
      return;
    }
    const p = ack.context === undefined ? undefined : this.#pending.get(ack.context);
    if (!p) return; // a receipt for a frame already settled (resent after a reconnect): the first one won
    if (ack.result === "ok" && typeof ack.messageId === "string") this.#settle(p, undefined, { messageId: ack.messageId });
    else this.#settle(p, new PublishRejectedError(this.topic, ack.errorCode ?? 0, `${ack.result ?? "error"}: ${ack.errorMsg ?? "no message"}`));
  }

  #settle(p: Pending, err: Error | undefined, receipt?: SendReceipt): void {
    if (!this.#pending.delete(p.context)) return;
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(receipt!);
    if (this.#pending.size === 0) for (const r of this.#idle.splice(0)) r();
  }
}

function tooLarge(topic: string, dataBytes: number | undefined, frameBytes: number, limit: number, brokerSaid?: string): PublishRejectedError {
  const what = dataBytes === undefined ? `a frame of ${frameBytes} bytes` : `the event (${dataBytes} bytes of data, a ${frameBytes}-byte WebSocket frame)`;
  return new PublishRejectedError(
    topic,
    413,
    `${what} is over the broker's WebSocket frame limit of ${limit} bytes${brokerSaid ? ` (broker: ${brokerSaid})` : ""}; payloads travel base64-encoded, so events up to about ${Math.floor(((limit - 2048) * 3) / 4)} bytes fit. Send large data by reference, or raise webSocketMaxTextFrameSize on the broker together with maxFrameBytes`,
  );
}

export function rawToString(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data).toString("utf8");
}

/** `persistent://t/ns/topic` -> `persistent/t/ns/<topic, URL-encoded>`. */
export function topicPath(topic: string): string {
  const m = /^(persistent|non-persistent):\/\/([^/]+)\/([^/]+)\/(.+)$/.exec(topic);
  if (!m) throw new Error(`not a full topic name: ${topic}`);
  return `${m[1]}/${encodeURIComponent(m[2]!)}/${encodeURIComponent(m[3]!)}/${encodeURIComponent(m[4]!)}`;
}
