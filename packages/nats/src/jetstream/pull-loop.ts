import { JetStreamStatus } from "@nats-io/jetstream/internal";
import { createInbox, nanos, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { routingOf, type Routing } from "../connection/routing.js";
import { JsDelivery } from "./js-message.js";

export type PullStatus =
  | { readonly type: "heartbeats_missed" }
  | { readonly type: "consumer_missing" }
  | { readonly type: "no_responders" };

export interface PullLoopOptions {
  readonly stream: string;
  readonly consumer: string;
  /** Messages requested per pull; a new pull tops up when half are in (default 100). */
  readonly batch: number;
  /** Lifetime of a pull request on the server (default 5 s). Bounds how long stop() waits for outstanding pulls. */
  readonly expiresMs: number;
  readonly onMessage: (d: JsDelivery) => void;
  readonly onStatus: (s: PullStatus) => void;
  /**
   * Where pulls go (the API prefix: default, domain or import) and where
   * messages come back (the inbox prefix). Default: what the connection's
   * JetStream layer recorded when it opened.
   */
  readonly routing?: Pick<Routing, "apiPrefix" | "inboxPrefix">;
}

/**
 * Status codes that end a pull (nats-server's; nats.js names only some
 * descriptions, e.g. isRequestTimeout() for "408 Request Timeout" but not
 * "408 Interest Expired", so the loop goes by code and lets JetStreamStatus
 * parse the rest).
 */
const REQUEST_TIMEOUT = 408; // expired on the server
const CONFLICT = 409; // ended early: consumer deleted, leadership change, a limit
const NO_MESSAGES = 404; // only no_wait pulls get it, which this loop never makes
const NO_RESPONDERS = 503; // JetStream (or the consumer's leader) is not there right now

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

/**
 * Pull requests for one durable consumer, issued and tracked by us. The
 * point of owning them: when stopping, we stop asking but keep listening
 * until every outstanding request is answered or expired, so no message is
 * sent to an inbox nobody reads (where it would wait out the ack wait).
 */
export class PullLoop {
  readonly #nc: NatsConnection;
  readonly #o: PullLoopOptions;
  readonly #inbox: string;
  /** `<api prefix>.CONSUMER.MSG.NEXT.<stream>.<consumer>`: the pull request subject. */
  readonly #next: string;
  #sub: Subscription | undefined;
  /** Messages asked for and not yet received or released by an expiry. */
  #pending = 0;
  #stopping = false;
  #lastSeen = Date.now();
  #watchdog: NodeJS.Timeout | undefined;
  #drained: (() => void) | undefined;

  constructor(nc: NatsConnection, options: PullLoopOptions) {
    this.#nc = nc;
    this.#o = options;
    const routing = options.routing ?? routingOf(nc);
    // Assuming $JS.API and _INBOX here would pull from the wrong JetStream (or be refused), silently: refuse instead.
    if (routing === undefined) throw new Error("PullLoop: this connection's JetStream layer is not open (no API prefix known); open it with bus.jetstream() first");
    this.#inbox = createInbox(routing.inboxPrefix);
    this.#next = `${routing.apiPrefix}.CONSUMER.MSG.NEXT.${options.stream}.${options.consumer}`;
  }

  start(): void {
    this.#sub = this.#nc.subscribe(this.#inbox, { callback: (err, msg) => void (err ? undefined : this.#onMsg(msg)) });
    // Heartbeats come every expires/2 while a pull waits; silence for two intervals means the pull is gone.
    const hb = Math.floor(this.#o.expiresMs / 2);
    this.#watchdog = setInterval(() => {
      if (Date.now() - this.#lastSeen > 2 * hb + 500) {
        this.#lastSeen = Date.now();
        if (!this.#stopping) this.#o.onStatus({ type: "heartbeats_missed" });
        this.#reset();
      }
    }, hb).unref();
    this.#pull();
  }

  /** Forget outstanding pulls (lost in a reconnect or server restart) and ask again. */
  reset(): void {
    this.#reset();
  }

  #reset(): void {
    this.#pending = 0;
    if (this.#stopping) this.#drained?.();
    else this.#pull();
  }

  #pull(): void {
    if (this.#stopping || this.#sub === undefined) {
      this.#checkDrained();
      return;
    }
    const want = this.#o.batch - this.#pending;
    if (want <= 0) return;
    this.#pending += want;
    const expires = nanos(this.#o.expiresMs);
    try {
      this.#nc.publish(this.#next, enc({ batch: want, expires, idle_heartbeat: expires / 2 }), { reply: this.#inbox });
    } catch {
      this.#pending -= want; // closed or draining: nothing was asked
    }
  }

  #onMsg(msg: Msg): void {
    this.#lastSeen = Date.now();
    // Only status messages lack a reply subject; checking that first keeps
    // the headers of ordinary messages unparsed on this hot path.
    if (msg.reply) {
      // A message: deliver, and top up once a quarter of what we asked for is in,
      // so the next batch is requested well before this one runs dry.
      this.#pending = Math.max(0, this.#pending - 1);
      this.#o.onMessage(new JsDelivery(this.#nc, msg));
      if (this.#pending <= this.#o.batch * 0.75) this.#pull();
      else this.#checkDrained();
      return;
    }
    const status = new JetStreamStatus(msg);
    if (status.isIdleHeartbeat() || status.isFlowControlRequest()) return;
    if (status.code === REQUEST_TIMEOUT || status.code === CONFLICT) {
      // The request ended; the status says how much of it went unused.
      const unused = status.parseDiscard().msgsLeft;
      this.#pending = unused > 0 ? Math.max(0, this.#pending - unused) : 0;
      if (status.isConsumerDeleted()) this.#o.onStatus({ type: "consumer_missing" });
    } else if (status.code === NO_RESPONDERS) {
      this.#pending = 0;
      this.#o.onStatus({ type: "no_responders" });
      // JetStream is electing a leader or restarting: ask again shortly, not in a tight loop.
      setTimeout(() => this.#pull(), 1000).unref();
      this.#checkDrained();
      return;
    } else if (status.code === NO_MESSAGES) {
      this.#pending = 0;
    }
    this.#checkDrained();
    this.#pull();
  }

  #checkDrained(): void {
    if (this.#stopping && this.#pending === 0) this.#drained?.();
  }

  /**
   * Stops asking, and resolves once every outstanding pull is answered or
   * has expired on the server (at most `expiresMs`); messages that still
   * arrive meanwhile are delivered as usual.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#pending > 0 && !this.#nc.isClosed()) {
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
        setTimeout(resolve, this.#o.expiresMs + 1000).unref();
      });
    }
    clearInterval(this.#watchdog);
    this.#sub?.unsubscribe();
  }
}
