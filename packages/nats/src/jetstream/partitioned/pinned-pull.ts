import { createInbox, nanos, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { Routing } from "../../connection/routing.js";
import { describe } from "../../errors.js";
import { JsDelivery } from "../js-message.js";

/** The header nats-server puts on every message a pinned-client consumer delivers. */
export const PIN_HEADER = "Nats-Pin-Id";

export type PinnedPullStatus =
  /** No message or heartbeat for two heartbeat intervals: the pull was lost (asked again). */
  | { readonly type: "heartbeats_missed" }
  | { readonly type: "consumer_missing" }
  /** The server refused the request (400/409 other than expiry): the consumer's config does not match what is asked. */
  | { readonly type: "refused"; readonly code: number; readonly description: string }
  /** A message that is no JetStream delivery (its reply subject cannot be read): dropped, never acked. */
  | { readonly type: "unreadable"; readonly detail: string };

export interface PinnedPullOptions {
  readonly stream: string;
  readonly consumer: string;
  /** The priority group the consumer declares. */
  readonly group: string;
  /** Messages asked for per request; the server sends no more than the consumer's max_ack_pending unacked at a time. */
  readonly batch: number;
  /** Lifetime of a request. Must stay well under the pinned TTL: each new request is what renews the pin. */
  readonly expiresMs: number;
  readonly onMessage: (d: JsDelivery, pinId: string | undefined) => void;
  /** The server says our pin is gone (423): another client may be served now. */
  readonly onPinLost: () => void;
  readonly onStatus: (s: PinnedPullStatus) => void;
  /** Where pulls go (the JetStream API prefix: default, domain or import) and where messages come back (the inbox prefix). */
  readonly routing: Pick<Routing, "apiPrefix" | "inboxPrefix">;
}

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

/**
 * Pull requests for one pinned-client consumer, one at a time, each on its
 * own reply subject so that a late status of an old request is never
 * mistaken for the current one's. The first request carries only the
 * priority group; the server pins it and stamps every message with the pin
 * id, which every later request carries (renewing the pin). A 423 means the
 * pin moved on (unpinned, or expired): ask again without an id, and tell
 * the owner, which must treat the next pin as a new tenure.
 *
 * Written against the protocol rather than nats.js's consume({ group }) for
 * the same reason as PullLoop: stopping must not strand messages in an inbox
 * nobody reads, and the owner needs the pin id of each message.
 */
export class PinnedPull {
  readonly #nc: NatsConnection;
  readonly #o: PinnedPullOptions;
  readonly #inbox: string;
  /** `<api prefix>.CONSUMER.MSG.NEXT.<stream>.<consumer>`. */
  readonly #nextSubject: string;
  #sub: Subscription | undefined;
  #pinId: string | undefined;
  /** The request being served now, and how many messages it may still bring. */
  #current = 0;
  #remaining = 0;
  #next = 0;
  /**
   * Requests sent without a pin id that have shown no message yet: the
   * server may still pin one of them anew, at any time until it ends. A
   * stopping pull must not keep those open (it would receive a new tenure it
   * no longer wants): they are cancelled by dropping the subscription.
   */
  readonly #pinnable = new Set<number>();
  #stopping = false;
  #releasedPin: string | undefined;
  #lastSeen = Date.now();
  #watchdog: NodeJS.Timeout | undefined;
  #ended: (() => void) | undefined;
  #retry: NodeJS.Timeout | undefined;

  constructor(nc: NatsConnection, options: PinnedPullOptions) {
    this.#nc = nc;
    this.#o = options;
    this.#inbox = createInbox(options.routing.inboxPrefix);
    this.#nextSubject = `${options.routing.apiPrefix}.CONSUMER.MSG.NEXT.${options.stream}.${options.consumer}`;
  }

  /** The pin id the server gave us, once a message has shown it. */
  get pinId(): string | undefined {
    return this.#pinId;
  }

  /** The pin this pull held when it was stopped: the only one its late messages may carry. */
  get releasedPin(): string | undefined {
    return this.#releasedPin;
  }

  /** What this pull is doing now, for diagnostics (a failing test prints it). */
  get state(): { pinId?: string; current: number; remaining: number; pinnable: number[]; stopping: boolean; silentMs: number } {
    return {
      ...(this.#pinId !== undefined ? { pinId: this.#pinId } : {}),
      current: this.#current,
      remaining: this.#remaining,
      pinnable: [...this.#pinnable],
      stopping: this.#stopping,
      silentMs: Date.now() - this.#lastSeen,
    };
  }

  start(): void {
    this.#sub = this.#nc.subscribe(`${this.#inbox}.*`, { callback: (err, msg) => void (err ? undefined : this.#onMsg(msg)) });
    const hb = Math.floor(this.#o.expiresMs / 2);
    this.#watchdog = setInterval(() => {
      if (Date.now() - this.#lastSeen > 2 * hb + 500) {
        this.#lastSeen = Date.now();
        if (this.#stopping) this.#ended?.();
        else {
          this.#o.onStatus({ type: "heartbeats_missed" });
          this.#pull();
        }
      }
    }, hb).unref();
    this.#pull();
  }

  /** Requests made before a reconnect or a server restart are gone (the server dropped them with our subscription): ask again. */
  reset(): void {
    this.#pinnable.clear();
    if (!this.#stopping) this.#pull();
  }

  #pull(): void {
    clearTimeout(this.#retry);
    if (this.#stopping || this.#sub === undefined) return;
    const id = ++this.#next;
    this.#current = id;
    this.#remaining = this.#o.batch;
    const expires = nanos(this.#o.expiresMs);
    const body = { batch: this.#o.batch, expires, idle_heartbeat: expires / 2, group: this.#o.group, ...(this.#pinId !== undefined ? { id: this.#pinId } : {}) };
    if (this.#pinId === undefined) this.#pinnable.add(id);
    try {
      this.#nc.publish(this.#nextSubject, enc(body), { reply: `${this.#inbox}.${id}` });
    } catch {
      // closed or draining: the reconnect (or halt) decides what happens next
    }
  }

  #onMsg(msg: Msg): void {
    this.#lastSeen = Date.now();
    const id = Number(msg.subject.slice(this.#inbox.length + 1));
    if (msg.reply) {
      // A message, from the current request or an older one still open: deliver it either way.
      this.#pinnable.delete(id);
      const pin = msg.headers?.get(PIN_HEADER) || undefined;
      if (pin !== undefined) this.#pinId = pin;
      const d = new JsDelivery(this.#nc, msg);
      try {
        void d.info; // parsed here: a throw inside a subscription callback would stop the connection's reader
        this.#o.onMessage(d, pin);
      } catch (err) {
        this.#o.onStatus({ type: "unreadable", detail: describe(err) });
      }
      if (id === this.#current && --this.#remaining <= 0) this.#requestEnded();
      return;
    }
    const h = msg.headers;
    const code = h?.code ?? 0;
    if (code === 100) return; // idle heartbeat
    if (code >= 400) this.#pinnable.delete(id); // that request has ended
    // An old request ending (or refused for an old pin): the current one is still open and speaks for itself.
    if (id !== this.#current) return;
    if (code === 423) {
      // Our pin is gone. Forget it, so the next request asks to be pinned anew.
      this.#pinId = undefined;
      this.#o.onPinLost();
      this.#requestEnded();
      return;
    }
    if (code === 408) {
      this.#requestEnded();
    } else if (code === 409 && /consumer (deleted|not found)|no such consumer/i.test(h?.description ?? "")) {
      this.#o.onStatus({ type: "consumer_missing" });
      this.#later();
    } else if (code === 409 && /leadership change/i.test(h?.description ?? "")) {
      this.#requestEnded();
    } else if (code === 503 || code === 404) {
      // JetStream is electing a leader or restarting: ask again shortly, not in a tight loop.
      this.#later();
    } else {
      this.#o.onStatus({ type: "refused", code, description: h?.description ?? "" });
      this.#later();
    }
  }

  #later(): void {
    if (this.#stopping) return this.#ended?.();
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => this.#pull(), 1000).unref();
  }

  #requestEnded(): void {
    if (this.#stopping) this.#ended?.();
    else this.#pull();
  }

  /**
   * Stops asking, and resolves once the open request has ended (answered,
   * expired, or refused because the pin moved on: at most `expiresMs`);
   * messages arriving meanwhile are delivered as usual.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#releasedPin = this.#pinId;
    clearTimeout(this.#retry);
    // A request that may still be pinned anew is cancelled at once (no interest, no
    // delivery); one that carries our pin can only deliver under it, or end with 423.
    if (this.#sub !== undefined && !this.#nc.isClosed() && this.#pinnable.size === 0) {
      await new Promise<void>((resolve) => {
        this.#ended = resolve;
        setTimeout(resolve, this.#o.expiresMs + 1000).unref();
      });
    }
    clearInterval(this.#watchdog);
    this.#sub?.unsubscribe();
  }
}
