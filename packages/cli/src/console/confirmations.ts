import { randomBytes } from "node:crypto";

export type DlqAction = "replay" | "delete";

interface Pending {
  readonly action: DlqAction;
  readonly ids: readonly string[];
  readonly expires: number;
}

/** How long a confirmation stays valid: long enough to read the list, short enough not to linger. */
const TTL_MS = 10 * 60_000;
const MAX_PENDING = 1000;

/**
 * Replay and delete run only with a nonce from the confirmation page, bound
 * to the action and to the exact dead letters that page listed (a filter is
 * resolved to its ids there, so what runs is what was shown). A nonce
 * may be submitted again until it expires: the actions are idempotent, so a
 * second submit (a reload, a double click) does nothing more and says so.
 */
export class Confirmations {
  readonly #pending = new Map<string, Pending>();

  issue(action: DlqAction, ids: readonly string[]): string {
    this.#sweep();
    const nonce = randomBytes(18).toString("base64url");
    this.#pending.set(nonce, { action, ids: [...ids], expires: Date.now() + TTL_MS });
    return nonce;
  }

  /** The dead letters a nonce confirms for this action; undefined when unknown, expired or for another action. */
  confirmed(nonce: string | null, action: DlqAction): readonly string[] | undefined {
    if (nonce === null) return undefined;
    const p = this.#pending.get(nonce);
    if (p === undefined || p.action !== action || p.expires < Date.now()) return undefined;
    return p.ids;
  }

  #sweep(): void {
    const now = Date.now();
    for (const [k, p] of this.#pending) if (p.expires < now) this.#pending.delete(k);
    // Bounded, whatever a client does: the oldest go first.
    while (this.#pending.size >= MAX_PENDING) this.#pending.delete(this.#pending.keys().next().value!);
  }
}
