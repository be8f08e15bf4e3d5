import type { Msg, NatsConnection, Subscription as NatsSubscription } from "@nats-io/transport-node";
import { HandlerError, PermissionError, SlowConsumerError } from "../errors.js";
import { Dispatcher } from "./dispatcher.js";
import type { InboundMessage } from "./inbound.js";
import { checkSubscribePattern } from "./subject.js";

export type MessageHandler = (message: InboundMessage) => void | Promise<void>;

export interface SubscribeOptions {
  /** Queue group: members of one group share the messages, each message goes to one of them. */
  readonly queue?: string;
  /** Handlers running at once (default 1, which keeps arrival order). */
  readonly concurrency?: number;
  /**
   * Messages waiting for a handler before new ones are dropped and reported
   * as SlowConsumerError (default 65,536). Core NATS is at-most-once: when a
   * handler cannot keep up, memory must not grow without bound.
   */
  readonly maxPending?: number;
  /** Overrides the bus's error hook for this subscription. */
  readonly onError?: (error: HandlerError | SlowConsumerError | Error) => void;
}

/** A live core subscription. */
export interface Subscription {
  readonly subject: string;
  readonly queue: string | undefined;
  /** Messages received so far. */
  readonly received: number;
  /** Stops delivery, lets queued and running handlers finish, then resolves. */
  drain(): Promise<void>;
  /** Stops delivery now; handlers already running still finish. */
  unsubscribe(): void;
  /** Resolves when nothing runs and nothing waits. */
  idle(): Promise<void>;
}

export class CoreSubscription implements Subscription {
  readonly #sub: NatsSubscription;
  readonly #dispatcher: Dispatcher<Msg>;
  readonly #counts: { received: number };
  #draining: Promise<void> | undefined;

  private constructor(
    sub: NatsSubscription,
    dispatcher: Dispatcher<Msg>,
    counts: { received: number },
    readonly subject: string,
    readonly queue: string | undefined,
  ) {
    this.#sub = sub;
    this.#dispatcher = dispatcher;
    this.#counts = counts;
  }

  get received(): number {
    return this.#counts.received;
  }

  /**
   * Subscribes and resolves only once the server has registered the
   * interest (a flush round trip), so events published right after this
   * resolves are not missed.
   */
  static async open(
    nc: NatsConnection,
    pattern: string,
    run: (msg: Msg) => unknown,
    options: SubscribeOptions,
    report: (err: Error) => void,
  ): Promise<CoreSubscription> {
    checkSubscribePattern(pattern);
    const dispatcher = new Dispatcher<Msg>({
      concurrency: options.concurrency ?? 1,
      maxPending: options.maxPending ?? 65_536,
      run,
      onFailure: (msg, err) => report(new HandlerError(msg.subject, err)),
      onOverflow: (msg, pending) => report(new SlowConsumerError(msg.subject, pending)),
    });
    let refused: Error | undefined;
    const counts = { received: 0 };
    const sub = nc.subscribe(pattern, {
      ...(options.queue !== undefined ? { queue: options.queue } : {}),
      callback: (err, msg) => {
        if (err) {
          refused ??= err;
          report(err);
          return;
        }
        counts.received++;
        dispatcher.push(msg);
      },
    });
    const self = new CoreSubscription(sub, dispatcher, counts, pattern, options.queue);
    await nc.flush();
    if (refused !== undefined || sub.isClosed()) {
      throw new PermissionError(`the server refused the subscription to "${pattern}": ${refused?.message ?? "closed"}; check this user's subscribe permissions`);
    }
    return self;
  }

  drain(): Promise<void> {
    this.#draining ??= (async () => {
      if (!this.#sub.isClosed()) await this.#sub.drain().catch(() => undefined);
      await this.#dispatcher.idle();
    })();
    return this.#draining;
  }

  unsubscribe(): void {
    if (!this.#sub.isClosed()) this.#sub.unsubscribe();
  }

  idle(): Promise<void> {
    return this.#dispatcher.idle();
  }

  /** Handlers running or waiting now. */
  get inFlight(): number {
    return this.#dispatcher.active + this.#dispatcher.pending;
  }

  /** Resolves when the server-side subscription is gone (unsubscribed, drained or connection closed). */
  get closed(): Promise<void> {
    return this.#sub.closed.then(() => undefined);
  }
}
