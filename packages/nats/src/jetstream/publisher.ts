import { JetStreamApiCodes, JetStreamApiError, PubHeaders, type JetStreamManager } from "@nats-io/jetstream";
import { JetStreamStatus, jserrors } from "@nats-io/jetstream/internal";
import { InvalidArgumentError, createInbox, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { explainPermission, jetstreamNotAnswering, permissionViolation, type Routing } from "../connection/routing.js";
import {
  ConnectionClosedError,
  JetStreamUnavailableError,
  NoStreamError,
  PublishRejectedError,
  PublishTimeoutError,
  SequenceConflictError,
  describe,
} from "../errors.js";
import { Fifo } from "../messaging/fifo.js";
import { checkPublishSubject } from "../messaging/subject.js";

/** The stream's receipt for one stored event. */
export interface PubAck {
  readonly id: string;
  readonly subject: string;
  readonly stream: string;
  readonly seq: number;
  /** True when the stream had already stored this id (a retry or a resend): nothing was stored twice. */
  readonly duplicate: boolean;
}

export interface PublisherOptions {
  /** Publishes awaiting their ack at once; further publishes wait for a slot (default 256). */
  readonly maxInFlight?: number;
  /** Resend an event when its ack has not come within this (default 5000 ms). */
  readonly ackTimeoutMs?: number;
  /**
   * Give up after this long (default 60 s). Must stay below the stream's
   * duplicate window (2 min by default) so that a resend can never store
   * the event twice.
   */
  readonly retryForMs?: number;
}

interface Pending {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: MsgHdrs;
  readonly id: string;
  readonly expectedSeq: number | undefined;
  readonly resolve: (ack: PubAck) => void;
  readonly reject: (err: Error) => void;
  readonly firstAt: number;
  lastAt: number;
  attempts: number;
}

export interface PublisherHost {
  readonly nc: NatsConnection;
  /** Acks come back under the routing's inbox prefix; its JetStream API is where `jsm` asks. */
  readonly routing: Routing;
  /** Bound to the configured JetStream API (domain or prefix): answers "which stream captures this subject". */
  readonly jsm: JetStreamManager;
  connected(): boolean;
  onReconnected(listener: () => void): () => void;
}

/**
 * JetStream error codes that mean "try again", as opposed to "refused".
 * nats.js's JetStreamApiCodes does not name them (nats-server's
 * JSClusterNotAvailErr and JSInsufficientResourcesErr).
 */
const CLUSTER_NOT_AVAILABLE = 10008;
const INSUFFICIENT_RESOURCES = 10023; // transient while a stream leader is elected
const TRANSIENT_ERR_CODES = new Set([CLUSTER_NOT_AVAILABLE, INSUFFICIENT_RESOURCES]);
/** The stream refused an expected last (subject) sequence: both forms the server sends. */
const WRONG_LAST_SEQUENCE = new Set<number>([JetStreamApiCodes.StreamWrongLastSequence, JetStreamApiCodes.StreamWrongLastSequenceUnknown]);
/** The status code nats-server answers with when nothing subscribes to a request's subject. */
const NO_RESPONDERS = 503;

/**
 * Pipelined JetStream publishing. Instead of one request (with its own timer
 * and inbox bookkeeping) per event, every event is published with a reply
 * subject under one wildcard inbox subscription; acks are matched by token,
 * and a single sweep timer handles resends. Resends reuse the event's
 * Nats-Msg-Id, so the stream stores each event once however often it is
 * sent, and nothing is given up on before `retryForMs`.
 */
export class JetStreamPublisher {
  readonly #host: PublisherHost;
  readonly #inbox: string;
  readonly #pending = new Map<string, Pending>();
  readonly #slotWaiters = new Fifo<() => void>();
  readonly #maxInFlight: number;
  readonly #ackTimeoutMs: number;
  readonly #retryForMs: number;
  readonly #coverage = new Map<string, Promise<boolean>>();
  #sweeper: NodeJS.Timeout | undefined;
  #next = 0;
  #closed = false;
  #aborted: Error | undefined;
  /** Publishes accepted and not yet settled, including those still waiting for a slot. */
  #outstanding = 0;
  /** The most publishes awaiting an ack at once since the last window() read. */
  #peak = 0;
  #idleWaiters: Array<() => void> = [];
  readonly #offReconnect: () => void;
  readonly #sub: { unsubscribe(): void };
  /** Set when the server refused the ack inbox subscription (permissions). */
  #refused: Error | undefined;

  private constructor(host: PublisherHost, options: PublisherOptions) {
    this.#host = host;
    this.#maxInFlight = options.maxInFlight ?? 256;
    this.#ackTimeoutMs = options.ackTimeoutMs ?? 5000;
    this.#retryForMs = options.retryForMs ?? 60_000;
    // createInbox applies the configured prefix (users may be allowed only `_INBOX_svc.>`) exactly as nats.js does for requests.
    this.#inbox = createInbox(host.routing.inboxPrefix);
    this.#sub = host.nc.subscribe(`${this.#inbox}.*`, {
      callback: (err, msg) => {
        if (err) this.#refused ??= err;
        else this.#onReply(msg);
      },
    });
    this.#offReconnect = host.onReconnected(() => this.#resendAll());
  }

  static async open(host: PublisherHost, options: PublisherOptions = {}): Promise<JetStreamPublisher> {
    const p = new JetStreamPublisher(host, options);
    await host.nc.flush(); // the ack inbox must be live before the first publish
    // A refused subscription is reported before the flush's answer: without the inbox no ack could ever arrive.
    const pv = permissionViolation(p.#refused);
    if (pv !== undefined) {
      p.#offReconnect();
      throw explainPermission(pv, host.routing, "JetStream publish acks cannot be received");
    }
    return p;
  }

  /** Publishes awaiting an ack. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** The window for metrics: in flight now, the peak since the previous call (then reset to now), and the capacity (maxInFlight). */
  window(): { inFlight: number; peak: number; capacity: number } {
    const inFlight = this.#pending.size;
    const peak = Math.max(this.#peak, inFlight);
    this.#peak = inFlight;
    return { inFlight, peak, capacity: this.#maxInFlight };
  }

  /**
   * Sends one event (its headers already built, `Nats-Msg-Id` = `ce-id`) and
   * resolves with the stream's ack. Waits for a slot when `maxInFlight`
   * publishes are already pending.
   */
  async publish(subject: string, data: Uint8Array, headers: MsgHdrs, id: string, expectedLastSubjectSequence?: number): Promise<PubAck> {
    checkPublishSubject(subject);
    if (this.#closed) throw new ConnectionClosedError(`JetStream publish to "${subject}" not sent`);
    if (expectedLastSubjectSequence !== undefined) headers.set(PubHeaders.ExpectedLastSubjectSequenceHdr, String(expectedLastSubjectSequence));
    this.#outstanding++;
    if (this.#pending.size >= this.#maxInFlight) await new Promise<void>((r) => this.#slotWaiters.push(r));
    if (this.#aborted !== undefined) {
      this.#release();
      throw this.#aborted;
    }
    return new Promise<PubAck>((resolve, reject) => {
      const token = (this.#next++).toString(36);
      const now = Date.now();
      const p: Pending = { subject, data, headers, id, expectedSeq: expectedLastSubjectSequence, resolve, reject, firstAt: now, lastAt: now, attempts: 0 };
      this.#pending.set(token, p);
      if (this.#pending.size > this.#peak) this.#peak = this.#pending.size;
      this.#sweeper ??= setInterval(() => this.#sweep(), Math.min(250, this.#ackTimeoutMs)).unref();
      this.#send(token, p);
    });
  }

  #send(token: string, p: Pending): void {
    p.lastAt = Date.now();
    p.attempts++;
    // While disconnected, core publishes are dropped; the reconnect hook resends.
    if (!this.#host.connected()) return;
    try {
      this.#host.nc.publish(p.subject, p.data, { reply: `${this.#inbox}.${token}`, headers: p.headers });
    } catch (err) {
      // Too large for the server: no resend can help, so fail now rather than at the retry deadline.
      if (err instanceof InvalidArgumentError) {
        this.#settle(token, p, new PublishRejectedError(p.subject, 0, `${describe(err)} (the server's max_payload is ${this.#host.nc.info?.max_payload ?? "unknown"} bytes)`));
      }
      // Otherwise closed or draining underneath us: the sweep settles it.
    }
  }

  #onReply(msg: Msg): void {
    const token = msg.subject.slice(this.#inbox.length + 1);
    const p = this.#pending.get(token);
    if (p === undefined) return; // an ack for an event already settled by an earlier reply
    // An ack is JSON; only a status (no stream took the publish) comes as a header-only message.
    if (JetStreamStatus.maybeParseStatus(msg)?.code === NO_RESPONDERS) {
      void this.#noResponders(token, p);
      return;
    }
    let reply: { stream?: string; seq?: number; duplicate?: boolean; error?: { code?: number; err_code?: number; description?: string } };
    try {
      reply = msg.json();
    } catch (err) {
      this.#settle(token, p, new PublishRejectedError(p.subject, 0, `unreadable ack: ${describe(err)}`));
      return;
    }
    const e = reply.error;
    if (e !== undefined) {
      const code = e.err_code ?? e.code ?? 0;
      if (TRANSIENT_ERR_CODES.has(code)) return; // the sweep resends after ackTimeoutMs
      if (WRONG_LAST_SEQUENCE.has(code)) {
        this.#settle(token, p, new SequenceConflictError(p.subject, p.expectedSeq ?? -1, e.description ?? "wrong last sequence"));
      } else {
        this.#settle(token, p, new PublishRejectedError(p.subject, code, e.description ?? "unknown error"));
      }
      return;
    }
    this.#settle(token, p, { id: p.id, subject: p.subject, stream: reply.stream ?? "", seq: reply.seq ?? 0, duplicate: reply.duplicate === true });
  }

  /**
   * 503: nobody answered. Either no stream captures the subject (a mistake:
   * fail now) or a stream leader is being elected (transient: resend).
   */
  async #noResponders(token: string, p: Pending): Promise<void> {
    let covered: boolean;
    try {
      covered = await this.#isCovered(p.subject);
    } catch (err) {
      this.#settle(token, p, err as Error);
      return;
    }
    if (!covered) {
      this.#settle(token, p, new NoStreamError(p.subject));
      return;
    }
    // Resend soon rather than after a full ack timeout.
    p.lastAt = Date.now() - this.#ackTimeoutMs + 250;
  }

  #isCovered(subject: string): Promise<boolean> {
    let c = this.#coverage.get(subject);
    if (c === undefined) {
      // Through the JetStream manager, so the question goes to the configured domain or API prefix, like the publish did.
      c = this.#host.jsm.streams
        .names(subject)
        .next()
        .then(
          (names) => names.length > 0,
          (err: unknown) => {
            const pv = permissionViolation(err);
            if (pv !== undefined) throw explainPermission(pv, this.#host.routing, `cannot tell whether a stream captures "${subject}"`);
            if (err instanceof jserrors.JetStreamNotEnabled) {
              throw new JetStreamUnavailableError(`publish to "${subject}" failed: ${jetstreamNotAnswering(this.#host.routing)}`, { cause: err });
            }
            if (err instanceof JetStreamApiError) throw new JetStreamUnavailableError(`cannot look up streams: ${err.message}`, { cause: err });
            return true; // could not tell (a timeout): treat as transient and keep resending
          },
        );
      this.#coverage.set(subject, c);
      // Streams come and go: do not remember the answer for long.
      setTimeout(() => this.#coverage.delete(subject), 1000).unref();
    }
    return c;
  }

  #settle(token: string, p: Pending, outcome: PubAck | Error): void {
    if (!this.#pending.delete(token)) return;
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome);
    this.#slotWaiters.shift()?.();
    if (this.#pending.size === 0 && this.#sweeper !== undefined) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
    this.#release();
  }

  #release(): void {
    this.#outstanding--;
    if (this.#outstanding > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  #sweep(): void {
    const now = Date.now();
    for (const [token, p] of this.#pending) {
      if (now - p.firstAt >= this.#retryForMs) {
        this.#settle(token, p, new PublishTimeoutError(p.subject, p.id, p.attempts, now - p.firstAt));
      } else if (now - p.lastAt >= this.#ackTimeoutMs) {
        this.#send(token, p);
      }
    }
  }

  #resendAll(): void {
    for (const [token, p] of this.#pending) this.#send(token, p);
  }

  /** Resolves when every publish made so far is settled (acked, rejected or timed out), including those waiting for a slot. */
  settled(): Promise<void> {
    if (this.#outstanding === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  /** The connection is gone for good: fail every unsettled publish now instead of at its retry deadline. */
  abort(error: Error): void {
    this.#closed = true;
    this.#aborted = error;
    for (const [token, p] of this.#pending) this.#settle(token, p, error);
    for (let w = this.#slotWaiters.shift(); w !== undefined; w = this.#slotWaiters.shift()) w();
  }

  /** Refuses new publishes, waits for pending ones to settle, then stops listening for acks. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.settled();
    this.#offReconnect();
    this.#sub.unsubscribe();
  }
}
