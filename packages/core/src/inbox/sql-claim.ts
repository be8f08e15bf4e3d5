import { randomUUID } from "node:crypto";
import type { ClaimResult, InboxKey, InboxTimes } from "./store.js";

/** The row that holds an id, as a SQL store reads it when its claim took nothing. */
export interface HeldRow {
  readonly state: string;
  /** Milliseconds left on the lease (drivers hand a DECIMAL as a string). */
  readonly remaining: number | string | null;
}

/** The two statements of a SQL store's claim, in its dialect. */
export interface SqlClaimSteps {
  /** Insert the claim row, or take over one whose retention or (for a claim) lease ran out; true when this call holds the id now, under `token`. */
  readonly take: (token: string) => Promise<boolean>;
  /** The unexpired row that held the id when `take` took nothing; undefined when there is none (any more). */
  readonly held: () => Promise<HeldRow | undefined>;
}

/**
 * A SQL inbox store's claim, whatever the dialect: take the row with a new
 * token, else read who holds it. A row that was released or expired between
 * the two statements is claimed again, at most three rounds, so a burst of
 * replicas on one id ends in "busy" instead of spinning.
 */
export async function claimSqlRow(key: InboxKey, times: InboxTimes, steps: SqlClaimSteps): Promise<ClaimResult> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const token = randomUUID();
    if (await steps.take(token)) return { state: "claimed", claim: { group: key.group, eventId: key.eventId, ...times, token } };
    const row = await steps.held();
    if (row === undefined) continue; // released or expired in between: claim again
    if (row.state === "done") return { state: "done" };
    return { state: "busy", retryInMs: Math.ceil(Number(row.remaining ?? 0)) };
  }
  return { state: "busy", retryInMs: 0 };
}
