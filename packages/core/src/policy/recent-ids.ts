/**
 * A bounded set of recently handled delivery positions; the oldest fall out
 * first. A redelivery of an event already handled in this process (an ack
 * lost in a disconnect or a broker restart) is acked without running the
 * handler again.
 */
export class RecentIds<K = string> {
  readonly #set = new Set<K>();
  constructor(private readonly capacity: number) {}
  has(id: K): boolean {
    return this.#set.has(id);
  }
  add(id: K): void {
    if (this.capacity === 0) return;
    this.#set.add(id);
    // A Set iterates in insertion order: the first entry is the oldest.
    if (this.#set.size > this.capacity) this.#set.delete(this.#set.values().next().value as K);
  }
}
