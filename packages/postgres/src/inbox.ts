import type pg from "pg";
import { AlreadyHandledError, claimSqlRow, type ClaimResult, type HeldRow, type InboxClaim, type InboxKey, type InboxStore, type InboxTimes } from "@cozebus/core/inbox";
import { tables, type TableOptions, type Tables } from "./names.js";
import type { Queryable } from "./queryable.js";
import { withTransaction } from "./transaction.js";

/** What marking inside a transaction needs: the claim `guard` hands the handler has it all. */
export type CompleteInKey = InboxKey & Pick<InboxTimes, "retentionMs">;

/**
 * The inbox's statements, on any connection that speaks PostgreSQL
 * (`PostgresInboxStore` on a pg.Pool, `KyselyInboxStore` on a Kysely
 * instance). Every decision is one statement, timed by the database's clock.
 */
export abstract class SqlInbox implements InboxStore {
  readonly name = "postgres";
  readonly #t: Tables;

  constructor(
    private readonly db: Queryable,
    options: TableOptions = {},
  ) {
    this.#t = tables(options);
  }

  async claim(key: InboxKey, times: InboxTimes): Promise<ClaimResult> {
    const t = this.#t.inbox;
    return claimSqlRow(key, times, {
      take: async (token) => {
        // One statement: a new row, or taking over a row whose lease (or retention) ran out. A concurrent
        // claim of the same id waits for this row's lock, then sees it claimed and takes nothing.
        const claimed = await this.db.query(
          `INSERT INTO ${t} AS i (consumer_group, event_id, state, token, lease_until, expires_at)
           VALUES ($1, $2, 'claimed', $3, now() + $4 * interval '1 millisecond', now() + $5 * interval '1 millisecond')
           ON CONFLICT (consumer_group, event_id) DO UPDATE
             SET state = 'claimed', token = EXCLUDED.token, lease_until = EXCLUDED.lease_until, expires_at = EXCLUDED.expires_at, updated_at = now()
             WHERE i.expires_at <= now() OR (i.state = 'claimed' AND i.lease_until <= now())
           RETURNING token`,
          [key.group, key.eventId, token, times.leaseMs, times.retentionMs],
        );
        return claimed.rowCount === 1;
      },
      held: async () => {
        const held = await this.db.query<HeldRow>(
          `SELECT state, GREATEST(0, EXTRACT(EPOCH FROM (lease_until - now())) * 1000)::float8 AS remaining
           FROM ${t} WHERE consumer_group = $1 AND event_id = $2 AND expires_at > now()`,
          [key.group, key.eventId],
        );
        return held.rows[0];
      },
    });
  }

  async complete(claim: InboxClaim): Promise<void> {
    await this.#markDone(this.db, claim);
  }

  /** Marks done in the caller's transaction on `tx`; AlreadyHandledError when it was done already (roll back). */
  protected async markDoneIn(tx: Queryable, key: CompleteInKey): Promise<void> {
    if (!(await this.#markDone(tx, key))) throw new AlreadyHandledError({ group: key.group, eventId: key.eventId });
  }

  /** true when this call marked it; false when it was done already. */
  async #markDone(db: Queryable, key: CompleteInKey): Promise<boolean> {
    const t = this.#t.inbox;
    const r = await db.query(
      `INSERT INTO ${t} AS i (consumer_group, event_id, state, token, lease_until, expires_at)
       VALUES ($1, $2, 'done', NULL, NULL, now() + $3 * interval '1 millisecond')
       ON CONFLICT (consumer_group, event_id) DO UPDATE
         SET state = 'done', token = NULL, lease_until = NULL, expires_at = EXCLUDED.expires_at, updated_at = now()
         WHERE i.state <> 'done' OR i.expires_at <= now()`,
      [key.group, key.eventId, key.retentionMs],
    );
    return r.rowCount === 1;
  }

  async release(claim: InboxClaim): Promise<void> {
    await this.db.query(`DELETE FROM ${this.#t.inbox} WHERE consumer_group = $1 AND event_id = $2 AND state = 'claimed' AND token = $3`, [
      claim.group,
      claim.eventId,
      claim.token,
    ]);
  }

  async extend(claim: InboxClaim): Promise<InboxClaim | undefined> {
    const r = await this.db.query(
      `UPDATE ${this.#t.inbox} SET lease_until = now() + $4 * interval '1 millisecond', updated_at = now()
       WHERE consumer_group = $1 AND event_id = $2 AND state = 'claimed' AND token = $3`,
      [claim.group, claim.eventId, claim.token, claim.leaseMs],
    );
    if (r.rowCount === 1) return claim;
    // Marked done meanwhile (by the handler's own transaction, which also held the row until it committed): not lost.
    return (await this.isDone(claim)) ? claim : undefined;
  }

  /** Whether the id is done (within its retention) for the group. */
  async isDone(key: InboxKey): Promise<boolean> {
    const r = await this.db.query(`SELECT 1 FROM ${this.#t.inbox} WHERE consumer_group = $1 AND event_id = $2 AND state = 'done' AND expires_at > now()`, [
      key.group,
      key.eventId,
    ]);
    return r.rowCount === 1;
  }

  /**
   * Deletes rows past their retention, at most `limit` per call; returns how
   * many. Expired rows already count as absent, so this only keeps the table
   * small: run it every few minutes (a cron, or an interval in one replica).
   */
  async purgeExpired(limit = 10_000): Promise<number> {
    const t = this.#t.inbox;
    const r = await this.db.query(`DELETE FROM ${t} WHERE ctid IN (SELECT ctid FROM ${t} WHERE expires_at <= now() LIMIT $1)`, [limit]);
    return r.rowCount ?? 0;
  }
}

/**
 * The inbox in a PostgreSQL table (create it with `migrate()`). Every
 * decision is one statement, timed by the database's clock (`now()`), so
 * replicas' clocks do not matter. Its strongest form: the handler marks the
 * event done in the same transaction as its own writes (`completeIn`,
 * `transaction`), so the writes commit at most once per event id, however
 * often and wherever the event is delivered.
 */
export class PostgresInboxStore extends SqlInbox {
  constructor(
    private readonly pool: pg.Pool,
    options: TableOptions = {},
  ) {
    super(pool, options);
  }

  /**
   * Marks the event done inside the caller's transaction `tx` (a client
   * after BEGIN): the mark commits or rolls back with the handler's own
   * writes. Throws AlreadyHandledError when the event is done already
   * (committed by another replica: this one waited for that transaction's
   * row lock, then saw it): roll back. Call it first in the transaction to
   * hold the event's row lock from the start (`transaction()` does).
   */
  async completeIn(tx: pg.ClientBase, key: CompleteInKey): Promise<void> {
    await this.markDoneIn(tx, key);
  }

  /**
   * BEGIN; mark the event done (`completeIn`); `fn(tx)`; COMMIT. The
   * handler's writes and the mark commit together or not at all. An event
   * already done rolls back before `fn` runs (AlreadyHandledError, which
   * `guard` turns into an ack).
   */
  transaction<T>(key: CompleteInKey, fn: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
    return withTransaction(this.pool, async (tx) => {
      await this.completeIn(tx, key);
      return fn(tx);
    });
  }
}
