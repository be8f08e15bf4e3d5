import type mysql from "mysql2/promise";
import { AlreadyHandledError, claimSqlRow, type ClaimResult, type HeldRow, type InboxClaim, type InboxKey, type InboxStore, type InboxTimes } from "@cozebus/core/inbox";
import { exec, isDuplicate, micros, rows, withTransaction, type Db } from "./db.js";
import { tables, type TableOptions, type Tables } from "./names.js";

/** What marking inside a transaction needs: the claim `guard` hands the handler has it all. */
export type CompleteInKey = InboxKey & Pick<InboxTimes, "retentionMs">;

const NOW = "UTC_TIMESTAMP(3)";

/**
 * The inbox in a MySQL / MariaDB table (create it with `migrate()`). Every
 * time is the database's clock, so replicas' clocks do not matter. A
 * decision is an INSERT and, when the row is there, one conditional UPDATE
 * (its WHERE is evaluated before its SET, so the test and the change are one
 * atomic step on the row). Its strongest form: the handler marks the event
 * done in the same transaction as its own writes (`completeIn`,
 * `transaction`).
 */
export class MysqlInboxStore implements InboxStore {
  readonly name = "mysql";
  readonly #t: Tables;

  constructor(
    private readonly pool: mysql.Pool,
    options: TableOptions = {},
  ) {
    this.#t = tables(options);
  }

  async claim(key: InboxKey, times: InboxTimes): Promise<ClaimResult> {
    const t = this.#t.inbox;
    const lease = micros(times.leaseMs);
    const keep = micros(times.retentionMs);
    return claimSqlRow(key, times, {
      take: async (token) => {
        try {
          await exec(
            this.pool,
            `INSERT INTO ${t} (consumer_group, event_id, state, token, lease_until, expires_at, updated_at)
             VALUES (?, ?, 'claimed', ?, ${NOW} + INTERVAL ? MICROSECOND, ${NOW} + INTERVAL ? MICROSECOND, ${NOW})`,
            [key.group, key.eventId, token, lease, keep],
          );
          return true;
        } catch (err) {
          if (!isDuplicate(err)) throw err;
        }
        // The row is there: take it over only when its retention or (for a claim) its lease ran out.
        const took = await exec(
          this.pool,
          `UPDATE ${t} SET state = 'claimed', token = ?, lease_until = ${NOW} + INTERVAL ? MICROSECOND, expires_at = ${NOW} + INTERVAL ? MICROSECOND, updated_at = ${NOW}
           WHERE consumer_group = ? AND event_id = ? AND (expires_at <= ${NOW} OR (state = 'claimed' AND lease_until <= ${NOW}))`,
          [token, lease, keep, key.group, key.eventId],
        );
        return took === 1;
      },
      held: async () => {
        const [row] = await rows<HeldRow>(
          this.pool,
          `SELECT state, GREATEST(0, TIMESTAMPDIFF(MICROSECOND, ${NOW}, lease_until)) / 1000 AS remaining
           FROM ${t} WHERE consumer_group = ? AND event_id = ? AND expires_at > ${NOW}`,
          [key.group, key.eventId],
        );
        return row;
      },
    });
  }

  async complete(claim: InboxClaim): Promise<void> {
    await this.#markDone(this.pool, claim);
  }

  /**
   * Marks the event done inside the caller's transaction `tx` (a connection
   * after beginTransaction()): the mark commits or rolls back with the
   * handler's own writes. Throws AlreadyHandledError when the event is done
   * already (another replica committed it: this one waited for its row
   * lock, then saw it): roll back. Call it first in the transaction, to
   * hold the event's row lock from the start (`transaction()` does).
   */
  async completeIn(tx: mysql.PoolConnection | mysql.Connection, key: CompleteInKey): Promise<void> {
    if (!(await this.#markDone(tx, key))) throw new AlreadyHandledError({ group: key.group, eventId: key.eventId });
  }

  /** BEGIN; `completeIn`; `fn(tx)`; COMMIT: the handler's writes and the mark commit together or not at all. */
  transaction<T>(key: CompleteInKey, fn: (tx: mysql.PoolConnection) => Promise<T>): Promise<T> {
    return withTransaction(this.pool, async (tx) => {
      await this.completeIn(tx, key);
      return fn(tx);
    });
  }

  /**
   * true when this call marked it; false when it was done already. UPDATE
   * first: on the row a claim made it takes the row's exclusive lock at
   * once, where an INSERT that finds a duplicate would take a shared one
   * and two such transactions would deadlock upgrading it.
   */
  async #markDone(db: Db, key: CompleteInKey): Promise<boolean> {
    const t = this.#t.inbox;
    const keep = micros(key.retentionMs);
    const updated = await exec(
      db,
      `UPDATE ${t} SET state = 'done', token = NULL, lease_until = NULL, expires_at = ${NOW} + INTERVAL ? MICROSECOND, updated_at = ${NOW}
       WHERE consumer_group = ? AND event_id = ? AND (state <> 'done' OR expires_at <= ${NOW})`,
      [keep, key.group, key.eventId],
    );
    if (updated === 1) return true;
    try {
      await exec(
        db,
        `INSERT INTO ${t} (consumer_group, event_id, state, token, lease_until, expires_at, updated_at) VALUES (?, ?, 'done', NULL, NULL, ${NOW} + INTERVAL ? MICROSECOND, ${NOW})`,
        [key.group, key.eventId, keep],
      );
      return true;
    } catch (err) {
      if (isDuplicate(err)) return false; // done (and unexpired): the UPDATE matched nothing
      throw err;
    }
  }

  async release(claim: InboxClaim): Promise<void> {
    await exec(this.pool, `DELETE FROM ${this.#t.inbox} WHERE consumer_group = ? AND event_id = ? AND state = 'claimed' AND token = ?`, [claim.group, claim.eventId, claim.token]);
  }

  async extend(claim: InboxClaim): Promise<InboxClaim | undefined> {
    const n = await exec(
      this.pool,
      `UPDATE ${this.#t.inbox} SET lease_until = ${NOW} + INTERVAL ? MICROSECOND, updated_at = ${NOW} WHERE consumer_group = ? AND event_id = ? AND state = 'claimed' AND token = ?`,
      [micros(claim.leaseMs), claim.group, claim.eventId, claim.token],
    );
    if (n >= 1) return claim;
    return (await this.isDone(claim)) ? claim : undefined;
  }

  /** Whether the id is done (within its retention) for the group. */
  async isDone(key: InboxKey): Promise<boolean> {
    const r = await rows(this.pool, `SELECT 1 AS one FROM ${this.#t.inbox} WHERE consumer_group = ? AND event_id = ? AND state = 'done' AND expires_at > ${NOW}`, [key.group, key.eventId]);
    return r.length === 1;
  }

  /** Deletes rows past their retention, at most `limit` per call; returns how many (expired rows already count as absent). */
  purgeExpired(limit = 10_000): Promise<number> {
    return exec(this.pool, `DELETE FROM ${this.#t.inbox} WHERE expires_at <= ${NOW} LIMIT ?`, [limit]);
  }
}
