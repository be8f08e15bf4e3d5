import type { ClaimResult, InboxClaim, InboxKey, InboxStore, InboxTimes } from "./store.js";

type Entry = { state: "claimed"; token: string; until: number; expires: number } | { state: "done"; expires: number };

/**
 * An inbox in this process's memory: for unit tests and single-process
 * tools only. It forgets everything on restart and sees nothing of other
 * replicas, so it does not give what the inbox is for; use
 * `@cozebus/postgres` or `@cozebus/nats`'s KV store in services.
 */
export class MemoryInboxStore implements InboxStore {
  readonly name = "memory";
  readonly #entries = new Map<string, Entry>();
  #seq = 0;

  constructor(private readonly now: () => number = Date.now) {}

  #id(key: InboxKey): string {
    return JSON.stringify([key.group, key.eventId]);
  }

  claim(key: InboxKey, times: InboxTimes): Promise<ClaimResult> {
    const now = this.now();
    const id = this.#id(key);
    const e = this.#entries.get(id);
    if (e && e.expires > now) {
      if (e.state === "done") return Promise.resolve({ state: "done" });
      if (e.until > now) return Promise.resolve({ state: "busy", retryInMs: e.until - now });
    }
    const token = String(++this.#seq);
    this.#entries.set(id, { state: "claimed", token, until: now + times.leaseMs, expires: now + times.retentionMs });
    return Promise.resolve({ state: "claimed", claim: { ...key, ...times, token } });
  }

  complete(claim: InboxClaim): Promise<void> {
    this.#entries.set(this.#id(claim), { state: "done", expires: this.now() + claim.retentionMs });
    return Promise.resolve();
  }

  release(claim: InboxClaim): Promise<void> {
    const e = this.#entries.get(this.#id(claim));
    if (e?.state === "claimed" && e.token === claim.token) this.#entries.delete(this.#id(claim));
    return Promise.resolve();
  }

  extend(claim: InboxClaim): Promise<InboxClaim | undefined> {
    const e = this.#entries.get(this.#id(claim));
    if (e?.state !== "claimed" || e.token !== claim.token) return Promise.resolve(undefined);
    e.until = this.now() + claim.leaseMs;
    return Promise.resolve(claim);
  }
}
