/**
 * Runs jobs with bounded concurrency. Keyed mode runs one job per key at a
 * time, in arrival order (orderBy: Key_Shared gives a key to one consumer,
 * this keeps that consumer's handling of the key serial too); jobs of
 * different keys run side by side up to the limit.
 */
export class Dispatcher<T> {
  readonly #queues = new Map<string, T[]>();
  /** Keys with work waiting and none running, oldest first. */
  readonly #ready: string[] = [];
  readonly #running = new Set<string>();
  #active = 0;
  #seq = 0;
  readonly #idle: Array<() => void> = [];

  constructor(
    private readonly limit: number,
    private readonly keyed: boolean,
    private readonly run: (item: T) => Promise<void>,
  ) {}

  get active(): number {
    return this.#active;
  }

  push(item: T, key: string): void {
    // Unkeyed: every job its own key, so they only wait for a free slot.
    const k = this.keyed ? key : String(++this.#seq);
    const q = this.#queues.get(k);
    if (q) q.push(item);
    else {
      this.#queues.set(k, [item]);
      if (!this.#running.has(k)) this.#ready.push(k);
    }
    this.#next();
  }

  /** Drops what has not started yet (returned, for the caller to hand back) and resolves once the running jobs are done. */
  async stop(): Promise<T[]> {
    const dropped: T[] = [];
    for (const q of this.#queues.values()) dropped.push(...q);
    this.#queues.clear();
    this.#ready.length = 0;
    if (this.#active > 0) await new Promise<void>((r) => this.#idle.push(r));
    return dropped;
  }

  #next(): void {
    while (this.#active < this.limit && this.#ready.length > 0) {
      const k = this.#ready.shift()!;
      const q = this.#queues.get(k);
      const item = q?.shift();
      if (item === undefined) continue;
      if (q!.length === 0) this.#queues.delete(k);
      this.#active++;
      this.#running.add(k);
      void this.run(item)
        .catch(() => {})
        .finally(() => {
          this.#active--;
          this.#running.delete(k);
          if (this.#queues.has(k)) this.#ready.push(k);
          if (this.#active === 0 && this.#ready.length === 0) for (const r of this.#idle.splice(0)) r();
          this.#next();
        });
    }
  }
}
