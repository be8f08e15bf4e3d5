import { JetStreamApiCodes, type ConsumerConfig, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { ServerFeature } from "../connection/server-info.js";
import { RecentIds, outcomeOfFailure, type Outcome } from "@cozebus/core/transport";
import { durableName, ensureConsumer, wantedConfig, type ConsumerSpec } from "./consumer-config.js";

export { durableName, ensureConsumer, type ConsumerSpec } from "./consumer-config.js";
import { ConfigError, HandlerError, describe, failureKind } from "../errors.js";
import { Dispatcher } from "../messaging/dispatcher.js";
import { Inbound, type InboundMessage } from "../messaging/inbound.js";
import { KeyedDispatcher } from "../messaging/keyed-dispatcher.js";
import { watchAbandoned, writeDeadLetter, type DeadLetterReason } from "./dead-letters.js";
import type { JetStreamPublisher } from "./publisher.js";
import type { JsDelivery } from "./js-message.js";
import { isSchedule } from "./publish-features.js";
import { PullLoop, type PullStatus } from "./pull-loop.js";
import { apiCode } from "./streams.js";
import { backoffDelay, retryPolicy, type RetryPolicy, type RetryPolicyInput } from "./retry-policy.js";

const NAME = /^[A-Za-z0-9_-]+$/;

/** Where a JetStream message came from and how often it was delivered. */
export interface DeliveryInfo {
  /** 1 on first delivery; counts redeliveries and in-place retries. */
  readonly attempt: number;
  readonly stream: string;
  readonly sequence: number;
  readonly consumer: string;
  /** Messages left for this consumer after this one, as the server saw it. */
  readonly pending: number;
}

export interface DeliveredMessage extends InboundMessage {
  readonly delivery: DeliveryInfo;
}

/**
 * Runs one delivery. Returning nothing (or `{ type: "ack" }`) acks it; a
 * returned outcome (the transport port's) is carried out as is; a throw is
 * settled by the consumer's retry policy (`outcomeOfFailure`).
 */
export type DeliveryHandler = (message: DeliveredMessage) => void | Outcome | Promise<void | Outcome>;

export type ConsumerStatus =
  | { readonly type: "heartbeats_missed"; readonly count: number }
  | { readonly type: "consumer_missing" }
  | { readonly type: "consumer_recreated" }
  | { readonly type: "stream_missing" }
  | { readonly type: "recreate_failed"; readonly error: Error };

export interface ConsumeOptions {
  /** Handlers running at once (default 1). */
  readonly concurrency?: number;
  readonly retry?: RetryPolicyInput;
  /** Unacked events the server hands this group at most (default max(1000, concurrency x 4)). */
  readonly maxAckPending?: number;
  /**
   * "subject": events with the same subject are handled one at a time in
   * stream order; different subjects concurrently. A failing event is
   * retried in place (with backoff and heartbeats) instead of nak'd, since a
   * redelivery would let later events of its subject overtake it.
   */
  readonly orderBy?: "subject";
  /**
   * Remember the last N events handled successfully (by stream sequence) and
   * ack a redelivery of one of them without running the handler again
   * (default 10,000; 0 turns it off). Redeliveries happen when an ack is lost
   * in a disconnect or server restart; this makes them harmless within one
   * process. Across processes, handlers must still be idempotent.
   */
  readonly dedupeWindow?: number;
  /**
   * Lifetime of each pull request on the server (default 2000 ms, at least
   * 1000). stop() waits this long at most for outstanding pulls to end, so
   * that no event is sent to an inbox that is no longer read.
   */
  readonly pullExpiresMs?: number;
  /** Longest wait for in-flight handlers on stop() (default 30 s). */
  readonly stopTimeoutMs?: number;
  readonly onError?: (error: Error) => void;
  readonly onStatus?: (status: ConsumerStatus) => void;
  /** Called for each in-progress heartbeat (+WPI) sent, with the event's subject (for metrics; must be cheap and not throw). */
  readonly onHeartbeat?: (subject: string) => void;
  /**
   * Called once the outcome of a handler run was carried out (for a settle span): ack or nak written, dead letter stored
   * and the event terminated, or an in-place retry about to wait out its delay. Must be cheap and not throw.
   */
  readonly onSettled?: (m: JsDelivery) => void;
}

export interface ConsumerStats {
  readonly acked: number;
  /** Redeliveries of events already handled here, acked without running the handler. */
  readonly skippedDuplicates: number;
  readonly retried: number;
  readonly deadLettered: number;
  readonly inFlight: number;
  /** In-progress heartbeats (+WPI) sent for events held here while they ran or waited. */
  readonly heartbeats: number;
}

export interface ConsumerHost {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly publisher: JetStreamPublisher;
  /** Subject a dead letter from this stream/consumer is written to. */
  dlqSubject(stream: string, consumer: string): string;
  supports(feature: ServerFeature): boolean;
  onReconnected(listener: () => void): () => void;
  report(error: Error): void;
}

/** A JetStream delivery as handlers see it: the message plus where it came from. */
class Delivered extends Inbound implements DeliveredMessage {
  constructor(
    d: JsDelivery,
    readonly delivery: DeliveryInfo,
  ) {
    super(d.msg);
  }

  // The reply subject of a JetStream delivery is its ack subject, not a requester's inbox.
  override get reply(): string | undefined {
    return undefined;
  }
}

/**
 * A durable pull consumer running user handlers with at-least-once
 * semantics: return -> ack; RetryableError or any other error -> nak with
 * the policy's delay (nak(delay): consumer backoff does not apply to naks);
 * NonRetryableError, DecodeError or the last allowed delivery failing ->
 * dead letter, then term. UnknownEventError (an event this build cannot
 * name) is never acked: it is handed back (nak) while deliveries remain,
 * then dead-lettered as "unknown-event". Handlers that outlive the ack wait are kept alive
 * with in-progress acks, so they are not delivered twice while they run.
 */
export class DurableConsumer {
  readonly #host: ConsumerHost;
  readonly #spec: ConsumerSpec;
  readonly #handler: DeliveryHandler;
  readonly #opts: ConsumeOptions;
  readonly #policy: RetryPolicy;
  readonly #config: Partial<ConsumerConfig>;
  readonly #durable: string;
  readonly #live = new Set<JsDelivery>();
  readonly #scheduler: { push(m: JsDelivery): void; idle(): Promise<void>; readonly active: number; readonly pending: number };
  #loop: PullLoop | undefined;
  #offReconnect: (() => void) | undefined;
  /** Set when stop() gave up waiting: events not yet started are handed back. */
  #givenUp = false;
  #stopWatcher: (() => void) | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #recreating = false;
  #stats = { acked: 0, skippedDuplicates: 0, retried: 0, deadLettered: 0, heartbeats: 0 };
  readonly #handled: RecentIds<number>;
  /** Stream sequences being handled now, with the duplicates waiting to learn whether handling succeeded. */
  readonly #running = new Map<number, Array<(ok: boolean) => void> | null>();

  private constructor(host: ConsumerHost, spec: ConsumerSpec, handler: DeliveryHandler, opts: ConsumeOptions) {
    if (!NAME.test(spec.group)) throw new ConfigError("group", `${JSON.stringify(spec.group)} is not a valid consumer name: letters, digits, "_" and "-"`);
    const concurrency = opts.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new ConfigError("concurrency", `expected an integer >= 1, got ${concurrency}`);
    this.#host = host;
    this.#spec = spec;
    this.#handler = handler;
    this.#opts = opts;
    this.#policy = retryPolicy(opts.retry);
    this.#durable = durableName(spec);
    this.#config = wantedConfig(spec, this.#policy, opts.maxAckPending ?? Math.max(1000, concurrency * 4));
    this.#handled = new RecentIds<number>(opts.dedupeWindow ?? 10_000);
    const run = (m: JsDelivery): Promise<void> => this.#handle(m);
    this.#scheduler =
      opts.orderBy === "subject"
        ? new KeyedDispatcher<JsDelivery>(concurrency, (m) => m.subject, run)
        : new Dispatcher<JsDelivery>({
            concurrency,
            maxPending: Number.MAX_SAFE_INTEGER, // bounded by the consumer's max_ack_pending on the server
            run,
            onFailure: (_m, err) => host.report(err as Error),
            onOverflow: () => undefined,
          });
  }

  static async start(host: ConsumerHost, spec: ConsumerSpec, handler: DeliveryHandler, opts: ConsumeOptions = {}): Promise<DurableConsumer> {
    const c = new DurableConsumer(host, spec, handler, opts);
    await c.#start();
    return c;
  }

  get stats(): ConsumerStats {
    return { ...this.#stats, inFlight: this.#scheduler.active + this.#scheduler.pending };
  }

  /** The durable consumer's name on the server. */
  get name(): string {
    return this.#durable;
  }

  async #start(): Promise<void> {
    const stream = this.#spec.stream;
    await ensureConsumer(this.#host.jsm, stream, this.#config);
    this.#stopWatcher = watchAbandoned(this.#host, stream, this.#durable, (e) => this.#report(e), () => this.#stats.deadLettered++);
    const every = Math.max(50, Math.floor(this.#policy.ackWaitMs / 3));
    this.#heartbeat = setInterval(() => {
      for (const m of this.#live) if (m.working()) this.#heartbeatSent(m.subject);
    }, every);
    this.#heartbeat.unref();
    await this.#pull();
    // Pulls made while disconnected, or held by a server that restarted, are gone: ask again.
    this.#offReconnect = this.#host.onReconnected(() => this.#loop?.reset());
    await this.#host.nc.flush();
  }

  /** Starts (or restarts) the pull requests. */
  async #pull(): Promise<void> {
    const old = this.#loop;
    this.#loop = undefined;
    await old?.stop();
    if (this.#stopping) return;
    const expiresMs = Math.max(1000, this.#opts.pullExpiresMs ?? 2000);
    const loop = new PullLoop(this.#host.nc, {
      stream: this.#spec.stream,
      consumer: this.#durable,
      // Queued events are kept alive by the heartbeat, so a full-size batch is safe.
      batch: Math.max(100, (this.#opts.concurrency ?? 1) * 2),
      expiresMs,
      onMessage: (m) => {
        this.#live.add(m);
        this.#scheduler.push(m);
      },
      onStatus: (st) => this.#onPullStatus(st),
    });
    this.#loop = loop;
    loop.start();
  }

  #onPullStatus(s: PullStatus): void {
    switch (s.type) {
      case "heartbeats_missed":
        this.#status({ type: "heartbeats_missed", count: 2 });
        void this.#checkConsumer();
        break;
      case "consumer_missing":
        this.#status({ type: "consumer_missing" });
        void this.#recreate();
        break;
      case "no_responders":
        break;
    }
  }

  /** After silence, find out whether the consumer (or its stream) is gone. */
  async #checkConsumer(): Promise<void> {
    try {
      await this.#host.jsm.consumers.info(this.#spec.stream, this.#durable);
    } catch (err) {
      const code = apiCode(err);
      if (code === JetStreamApiCodes.ConsumerNotFound) {
        this.#status({ type: "consumer_missing" });
        void this.#recreate();
      } else if (code === JetStreamApiCodes.StreamNotFound) {
        this.#status({ type: "stream_missing" });
      }
    }
  }

  async #recreate(): Promise<void> {
    if (this.#recreating || this.#stopping) return;
    this.#recreating = true;
    try {
      for (let attempt = 1; !this.#stopping; attempt++) {
        try {
          await ensureConsumer(this.#host.jsm, this.#spec.stream, this.#config);
          // The old iterator would only notice after missing heartbeats (tens of seconds): start a fresh one now.
          await this.#pull();
          this.#status({ type: "consumer_recreated" });
          return;
        } catch (err) {
          this.#status({ type: "recreate_failed", error: err as Error });
          await sleep(Math.min(30_000, 250 * 2 ** Math.min(attempt, 7)));
        }
      }
    } finally {
      this.#recreating = false;
    }
  }

  #heartbeatSent(subject: string): void {
    this.#stats.heartbeats++;
    this.#opts.onHeartbeat?.(subject);
  }

  #status(s: ConsumerStatus): void {
    try {
      this.#opts.onStatus?.(s);
    } catch {
      // listener bugs stay with the listener
    }
  }

  #report(err: Error): void {
    try {
      (this.#opts.onError ?? ((e: Error) => this.#host.report(e)))(err);
    } catch {
      // see #status
    }
  }

  async #handle(m: JsDelivery): Promise<void> {
    try {
      if (this.#givenUp) {
        m.nak(); // stop() timed out: hand it to another instance now
        return;
      }
      if (isSchedule(m.headers)) {
        // A delayed publish waiting in the stream (2.12 message schedules): the server publishes the
        // event itself when it is due. Acking the schedule does not remove it (limits retention).
        m.ack();
        return;
      }
      const info = m.info;
      // Checked on every delivery, not only flagged redeliveries: a server that
      // crashed may lose its ack state and deliver again as if for the first time.
      const key = eventKey(m);
      // A second copy of an event still being handled here (redelivered across
      // a restart): wait for the first copy, and if it succeeded, just ack.
      if (this.#running.has(key)) {
        const firstSucceeded = await new Promise<boolean>((resolve) => {
          const waiters = this.#running.get(key) ?? [];
          waiters.push(resolve);
          this.#running.set(key, waiters);
        });
        if (firstSucceeded) {
          m.ack();
          this.#stats.skippedDuplicates++;
          return;
        }
      }
      if (this.#handled.has(key)) {
        m.ack();
        this.#stats.skippedDuplicates++;
        return;
      }
      // No promise per event on the hot path: waiters are only created for duplicates.
      this.#running.set(key, null);
      let ok = false;
      try {
        ok = await this.#attempts(m, info);
      } finally {
        const waiters = this.#running.get(key);
        this.#running.delete(key);
        if (waiters) for (const w of waiters) w(ok);
      }
    } catch (err) {
      this.#report(err as Error);
    } finally {
      this.#live.delete(m);
    }
  }

  /** The handler's outcome: what it returned, or its throw settled by the policy (reported here). */
  async #outcome(m: JsDelivery, delivery: DeliveryInfo): Promise<Outcome | void> {
    try {
      return await this.#handler(new Delivered(m, delivery));
    } catch (err) {
      this.#report(failureKind(err) === "unknown-event" ? (err as Error) : new HandlerError(m.subject, err));
      return outcomeOfFailure(err, delivery.attempt, this.#policy);
    }
  }

  /** Runs the handler (retrying in place when ordered); true when the event was handled and acked. */
  async #attempts(m: JsDelivery, info: JsDelivery["info"]): Promise<boolean> {
    const ordered = this.#opts.orderBy === "subject";
    for (let attempt = info.deliveryCount; ; attempt++) {
      const delivery: DeliveryInfo = { attempt, stream: info.stream, sequence: info.streamSequence, consumer: info.consumer, pending: info.pending };
      const outcome = await this.#outcome(m, delivery);
      if (outcome === undefined || outcome.type === "ack") {
        m.ack();
        this.#opts.onSettled?.(m);
        this.#handled.add(eventKey(m));
        this.#stats.acked++;
        return true;
      }
      if (outcome.type === "dead-letter") {
        await this.#deadLetter(m, outcome.reason, outcome.error, attempt);
        return false;
      }
      this.#stats.retried++;
      // An unknown event is handed back to the group (another instance may know it); retrying it here cannot help.
      if (!ordered || this.#stopping || failureKind(outcome.error) === "unknown-event") {
        m.nak(outcome.delayMs);
        this.#opts.onSettled?.(m);
        return false;
      }
      this.#opts.onSettled?.(m);
      await sleep(outcome.delayMs); // ordered: retry in place; the heartbeat keeps the ack alive meanwhile
    }
  }

  async #deadLetter(m: JsDelivery, reason: DeadLetterReason, err: unknown, deliveries: number): Promise<void> {
    const info = m.info;
    try {
      await writeDeadLetter(this.#host.publisher, this.#host.dlqSubject(info.stream, info.consumer), m.data, m.headers, {
        subject: m.subject,
        stream: info.stream,
        sequence: info.streamSequence,
        consumer: info.consumer,
        deliveries,
        reason,
        error: describe(err),
      });
    } catch (dlqErr) {
      // Never term what could not be dead-lettered: retry it later instead.
      this.#report(new Error(`could not dead-letter ${info.stream}#${info.streamSequence} from "${m.subject}": ${describe(dlqErr)}; it will be redelivered`));
      m.nak(backoffDelay(this.#policy.backoff, deliveries));
      this.#opts.onSettled?.(m);
      return;
    }
    // nats-server < 2.11 ignores term(reason) entirely (and redelivers): only send a reason where it is understood.
    if (this.#host.supports("term-reason")) m.term(`cozebus: ${reason}`);
    else m.term();
    this.#opts.onSettled?.(m);
    this.#stats.deadLettered++;
  }

  /** The connection is gone: stop timers and watchers now (nothing can be acked any more). */
  halt(): void {
    this.#stopping = true;
    this.#givenUp = true;
    clearInterval(this.#heartbeat);
    this.#stopWatcher?.();
    this.#offReconnect?.();
    void this.#loop?.stop();
  }

  /**
   * Graceful stop: stop asking for events, let the ones already here run
   * (bounded by `stopTimeoutMs`), wait until every outstanding pull request
   * has ended so nothing is left in flight to an inbox nobody reads, make
   * sure the acks reached the server, then stop heartbeats. Events not
   * started by the deadline are handed back (nak) for another instance.
   */
  stop(timeoutMs = this.#opts.stopTimeoutMs ?? 30_000): Promise<void> {
    this.#stopped ??= (async () => {
      this.#stopping = true;
      this.#offReconnect?.();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        Promise.all([this.#loop?.stop(), this.#scheduler.idle()]).then(() => this.#scheduler.idle()).then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.#givenUp = true;
        this.#report(new Error(`consumer ${this.#durable}: ${this.stats.inFlight} event(s) still in progress after ${timeoutMs} ms; those not finished will be redelivered`));
      }
      await this.#host.nc.flush().catch(() => undefined);
      clearInterval(this.#heartbeat);
      this.#stopWatcher?.();
    })();
    return this.#stopped;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A redelivery is the same stored message, so its stream sequence identifies
 * it (the consumer reads one stream). Cheaper than parsing headers for the
 * ce-id, and equivalent: the stream itself drops re-published ce-ids inside
 * its duplicate window.
 */
function eventKey(m: JsDelivery): number {
  return m.info.streamSequence;
}
