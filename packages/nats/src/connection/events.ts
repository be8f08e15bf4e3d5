/** Connection lifecycle events a bus emits. */
export interface BusEvents {
  /** The connection to `server` was lost; core publishes fail until `reconnected`. */
  disconnected: { readonly server: string };
  /** A reconnect attempt is starting. */
  reconnecting: Record<string, never>;
  /** Connected again, to `server` (maybe another node of the cluster). */
  reconnected: { readonly server: string };
  /** The connection is closed for good; `error` says why when it was not a normal close. */
  closed: { readonly error: Error | undefined };
  /** An asynchronous error from the server, such as a permissions violation on publish. */
  error: { readonly error: Error };
}

export type BusEventName = keyof BusEvents;
type Listener<K extends BusEventName> = (event: BusEvents[K]) => void;

/** A small typed emitter: a listener that throws cannot break the others. */
export class TypedEmitter {
  readonly #listeners = new Map<BusEventName, Set<Listener<BusEventName>>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends BusEventName>(event: K, listener: Listener<K>): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as Listener<BusEventName>);
    return () => set.delete(listener as Listener<BusEventName>);
  }

  /** Resolves with the next event of this kind. */
  once<K extends BusEventName>(event: K): Promise<BusEvents[K]> {
    return new Promise((resolve) => {
      const off = this.on(event, (e) => {
        off();
        resolve(e);
      });
    });
  }

  protected emit<K extends BusEventName>(event: K, payload: BusEvents[K]): void {
    for (const l of this.#listeners.get(event) ?? []) {
      try {
        l(payload);
      } catch {
        // Listener bugs are the listener's; the connection keeps going.
      }
    }
  }
}
