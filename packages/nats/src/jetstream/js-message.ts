import { nanos, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";

/** Where a delivery came from, parsed from its `$JS.ACK...` reply subject. */
export interface JsDeliveryInfo {
  readonly stream: string;
  readonly consumer: string;
  /** How many times this message has been delivered to the consumer (1 on first). */
  readonly deliveryCount: number;
  readonly streamSequence: number;
  readonly consumerSequence: number;
  readonly pending: number;
  /** The JetStream domain, when the subject has the newer form and names one (`_` means none). */
  readonly domain: string | undefined;
}

/** The reply subject of a JetStream delivery could not be read: not a JetStream message, or a form this build does not know. */
export class AckSubjectError extends Error {
  constructor(readonly subject: string | undefined, why: string) {
    super(`cannot read the JetStream delivery info from reply subject ${JSON.stringify(subject ?? "")}: ${why}`);
    this.name = "AckSubjectError";
  }
}

/** Tokens before the stream name: `$JS.ACK` in the original form, `$JS.ACK.<domain>.<account hash>` in the newer. */
const OLD_FORM_TOKENS = 9;
const NEW_FORM_MIN_TOKENS = 11;
const NUMBER = /^\d+$/;

/**
 * Parses both forms of a JetStream ack subject:
 * - the original, 9 tokens:
 *   `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp>.<pending>`;
 * - the newer (ADR-15), 11 or more:
 *   `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp>.<pending>.<random>...`,
 *   with domain `_` when there is none; tokens after `<pending>` are ignored, as the ADR allows more to be added.
 * Anything else is refused: guessing would act on the wrong sequence.
 */
export function parseAckSubject(subject: string | undefined): JsDeliveryInfo {
  const t = subject?.split(".") ?? [];
  if (t[0] !== "$JS" || t[1] !== "ACK") throw new AckSubjectError(subject, "it does not start with $JS.ACK");
  let domain: string | undefined;
  let o: number;
  if (t.length === OLD_FORM_TOKENS) {
    o = 2;
  } else if (t.length >= NEW_FORM_MIN_TOKENS) {
    domain = t[2] === "_" ? undefined : t[2];
    o = 4;
  } else {
    throw new AckSubjectError(subject, `it has ${t.length} tokens; expected ${OLD_FORM_TOKENS} (original form) or at least ${NEW_FORM_MIN_TOKENS} (with domain and account hash)`);
  }
  const numbers = t.slice(o + 2, o + 7);
  if (t[o] === "" || t[o + 1] === "" || !numbers.every((n) => NUMBER.test(n))) {
    throw new AckSubjectError(subject, "its stream, consumer, counters or sequences are not where either form puts them");
  }
  const [delivered, streamSeq, consumerSeq, , pending] = numbers.map(Number) as [number, number, number, number, number];
  return { stream: t[o]!, consumer: t[o + 1]!, deliveryCount: delivered, streamSequence: streamSeq, consumerSequence: consumerSeq, pending, domain };
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

  /** Parsed from the reply subject on first use; throws AckSubjectError when it is not a JetStream ack subject. */
  get info(): JsDeliveryInfo {
    this.#info ??= parseAckSubject(this.msg.reply);
    return this.#info;
  }

  /**
   * Acks are fire-and-forget. On a closed connection they cannot be sent and
   * must not throw (they run from timers and handlers' completions): the
   * server redelivers the unacknowledged event, which is the correct outcome.
   */
  #send(body: Uint8Array): boolean {
    if (!this.msg.reply || this.nc.isClosed()) return false;
    try {
      this.nc.publish(this.msg.reply, body);
      return true;
    } catch {
      // draining or closed in between: see above
      return false;
    }
  }

  ack(): void {
    this.#send(ACK);
  }

  /** Redeliver after `delayMs` (0: at once). Consumer backoff settings do not apply to naks. */
  nak(delayMs = 0): void {
    this.#send(delayMs > 0 ? new TextEncoder().encode(`-NAK ${JSON.stringify({ delay: nanos(delayMs) })}`) : NAK);
  }

  /** In progress: restarts the ack wait. False when it could not be sent (closed): heartbeat metrics count only what went out. */
  working(): boolean {
    return this.#send(WPI);
  }

  /** Never redeliver. `reason` only where the server understands it (2.11+): older servers ignore the whole term. */
  term(reason?: string): void {
    this.#send(reason === undefined ? TERM : new TextEncoder().encode(`+TERM ${reason}`));
  }
}
