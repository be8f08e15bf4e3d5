import type { Msg, MsgHdrs, NatsConnection } from "@nats-io/transport-node";

/** Where a delivery came from, parsed from its `$JS.ACK...` reply subject. */
export interface JsDeliveryInfo {
  readonly stream: string;
  readonly consumer: string;
  /** How many times this message has been delivered to the consumer (1 on first). */
  readonly deliveryCount: number;
  readonly streamSequence: number;
  readonly pending: number;
}

const ACK = new TextEncoder().encode("+ACK");
const WPI = new TextEncoder().encode("+WPI");
const TERM = new TextEncoder().encode("+TERM");
const NAK = new TextEncoder().encode("-NAK");

/**
 * One JetStream delivery and its acknowledgements, written against the
 * protocol (ack = publish to the reply subject). Owning this, rather than
 * relying on the client's consume() internals, is what lets the consumer
 * control its pull requests, and so stop without stranding messages.
 */
export class JsDelivery {
  #info: JsDeliveryInfo | undefined;

  constructor(
    private readonly nc: NatsConnection,
    readonly msg: Msg,
  ) {}

  get subject(): string {
    return this.msg.subject;
  }

  get data(): Uint8Array {
    return this.msg.data;
  }

  get headers(): MsgHdrs | undefined {
    return this.msg.headers;
  }

  /**
   * `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` (9 tokens), or
   * `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>.<random>` (12).
   */
  get info(): JsDeliveryInfo {
    if (this.#info === undefined) {
      const t = this.msg.reply?.split(".") ?? [];
      const o = t.length >= 12 ? 4 : 2;
      this.#info = {
        stream: t[o] ?? "",
        consumer: t[o + 1] ?? "",
        deliveryCount: Number(t[o + 2]),
        streamSequence: Number(t[o + 3]),
        pending: Number(t[o + 6]),
      };
    }
    return this.#info;
  }

  /**
   * Acks are fire-and-forget. On a closed connection they cannot be sent and
   * must not throw (they run from timers and handlers' completions): the
   * server redelivers the unacknowledged event, which is the correct outcome.
   */
  #send(body: Uint8Array): void {
    if (!this.msg.reply || this.nc.isClosed()) return;
    try {
      this.nc.publish(this.msg.reply, body);
    } catch {
      // draining or closed in between: see above
    }
  }

  ack(): void {
    this.#send(ACK);
  }

  /** Redeliver after `delayMs` (0: at once). Consumer backoff settings do not apply to naks. */
  nak(delayMs = 0): void {
    this.#send(delayMs > 0 ? new TextEncoder().encode(`-NAK ${JSON.stringify({ delay: delayMs * 1_000_000 })}`) : NAK);
  }

  /** In progress: restarts the ack wait. */
  working(): void {
    this.#send(WPI);
  }

  /** Never redeliver. `reason` only where the server understands it (2.11+): older servers ignore the whole term. */
  term(reason?: string): void {
    this.#send(reason === undefined ? TERM : new TextEncoder().encode(`+TERM ${reason}`));
  }
}
