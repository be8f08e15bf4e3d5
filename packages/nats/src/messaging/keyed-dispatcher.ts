import { Fifo } from "./fifo.js";

/**
 * Like Dispatcher, but items with the same key run one at a time, in
 * arrival order, while different keys run concurrently (up to
 * `concurrency` keys at once). Used for per-subject ordering.
 */
export class KeyedDispatcher<T> {
  readonly #queues = new Map<string, T[]>();
  readonly #ready = new Fifo<string>();
  readonly #running = new Set<string>();
  #pendingCount = 0;
  #idleWaiters: Array<() => void> = [];

  constructor(
    private readonly concurrency: number,
    private readonly keyOf: (item: T) => string,
    private readonly run: (item: T) => Promise<void>,
  ) {}

  get active(): number {
    return this.#running.size;
  }

  get pending(): number {
    return this.#pendingCount;
  }

  push(item: T): void {
    const key = this.keyOf(item);
    let q = this.#queues.get(key);
    if (q === undefined) this.#queues.set(key, (q = []));
    q.push(item);
    this.#pendingCount++;
    if (q.length === 1 && !this.#running.has(key)) this.#ready.push(key);
    this.#pump();
  }

  idle(): Promise<void> {
    if (this.#running.size === 0 && this.#pendingCount === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  #pump(): void {
    while (this.#running.size < this.concurrency && this.#ready.length > 0) {
      const key = this.#ready.shift() as string;
      const q = this.#queues.get(key) as T[];
      const item = q.shift() as T;
      this.#pendingCount--;
      this.#running.add(key);
      // run() never rejects (the consumer catches everything); finally is belt and braces.
      void this.run(item).finally(() => {
        this.#running.delete(key);
        if (q.length > 0) this.#ready.push(key);
        else this.#queues.delete(key);
        this.#pump();
      });
    }
    if (this.#running.size === 0 && this.#pendingCount === 0 && this.#idleWaiters.length > 0) {
      const w = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const f of w) f();
    }
  }
}
