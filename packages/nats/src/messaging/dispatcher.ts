import { Fifo } from "./fifo.js";

/**
 * Runs user handlers safely with bounded concurrency.
 *
 * nats.js calls subscription callbacks synchronously from its socket reader:
 * a sync throw there stops the reader, and a rejected promise becomes an
 * unhandled rejection that kills Node. Every handler therefore runs through
 * a dispatcher, which catches both, reports them, and keeps going. With
 * concurrency 1 (the default for subscriptions) messages are handled one at
 * a time in arrival order.
 */
export interface DispatcherOptions<T> {
  readonly concurrency: number;
  /** Queued items beyond this are handed to `onOverflow` instead of queued. */
  readonly maxPending: number;
  readonly run: (item: T) => unknown;
  readonly onFailure: (item: T, error: unknown) => void;
  readonly onOverflow: (item: T, pending: number) => void;
}

export class Dispatcher<T> {
  readonly #queue = new Fifo<T>();
  #active = 0;
  #pumping = false;
  #idleWaiters: Array<() => void> = [];
  readonly #o: DispatcherOptions<T>;

  constructor(options: DispatcherOptions<T>) {
    this.#o = options;
  }

  /** Handlers running now. */
  get active(): number {
    return this.#active;
  }

  /** Items waiting for a free slot. */
  get pending(): number {
    return this.#queue.length;
  }

  push(item: T): void {
    if (this.#active < this.#o.concurrency && this.pending === 0 && !this.#pumping) {
      this.#active++;
      this.#invoke(item);
      this.#settleIdle();
      return;
    }
    if (this.pending >= this.#o.maxPending) {
      this.#o.onOverflow(item, this.pending);
      return;
    }
    this.#queue.push(item);
    this.#pump();
  }

  /** Resolves when nothing runs and nothing waits. */
  idle(): Promise<void> {
    if (this.#active === 0 && this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #invoke(item: T): void {
    let result: unknown;
    try {
      result = this.#o.run(item);
    } catch (err) {
      this.#fail(item, err);
      this.#active--;
      return;
    }
    if (result !== null && typeof result === "object" && typeof (result as PromiseLike<unknown>).then === "function") {
      (result as PromiseLike<unknown>).then(
        () => this.#finish(),
        (err: unknown) => {
          this.#fail(item, err);
          this.#finish();
        },
      );
    } else {
      this.#active--;
    }
  }

  #finish(): void {
    this.#active--;
    this.#pump();
  }

  // Iterative, not recursive: a long queue of sync handlers must not grow the stack.
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    while (this.#active < this.#o.concurrency && this.pending > 0) {
      const item = this.#queue.shift() as T;
      this.#active++;
      this.#invoke(item);
    }
    this.#pumping = false;
    this.#settleIdle();
  }

  #fail(item: T, err: unknown): void {
    try {
      this.#o.onFailure(item, err);
    } catch {
      // An error hook that throws must not take the dispatcher down with it.
    }
  }

  #settleIdle(): void {
    if (this.#active !== 0 || this.pending !== 0 || this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}
