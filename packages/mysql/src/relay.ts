import type mysql from "mysql2/promise";
import { RelayLoop, type DueRow, type OutboxRelay, type RelayOptions, type StoredAttributes } from "@cozebus/core/outbox";
import type { QualityOfService } from "@cozebus/core/transport";
import { exec, micros, rows } from "./db.js";
import { tables, type TableOptions, type Tables } from "./names.js";

export interface OutboxRelayOptions extends TableOptions, RelayOptions {
  readonly pool: mysql.Pool;
  /** How often an idle relay looks for committed rows (default 250 ms: MySQL has no LISTEN/NOTIFY to wake it). */
  readonly pollIntervalMs?: number;
}

export type { OutboxRelay };
export { OutboxPublishError } from "@cozebus/core/outbox";

interface Row {
  seq: string;
  event_id: string;
  key_hash: Buffer;
  domain: string;
  template: string;
  fields: string;
  data: Buffer;
  attributes: string;
  qos: QualityOfService;
  ttl_ms: number | null;
  deliver_at_ms: number | string | null;
  attempts: number;
}

const NOW = "UTC_TIMESTAMP(3)";

/**
 * Publishes committed outbox rows through `transport`, in seq order per
 * ordering key, and marks them sent. Several relays may run: each batch
 * locks its rows (`FOR UPDATE SKIP LOCKED`, MySQL 8.0.1+ / MariaDB 10.6+),
 * and a row is published only when no earlier unsent row of its key is
 * outside the batch (held by another relay, or waiting for a retry), so a
 * key's events never go out of order or through two relays at once. The
 * locks are held until the batch's marks commit: a relay that dies between
 * publish and mark leaves its rows unsent, and the next relay publishes them
 * again with the same ce-id (JetStream drops the copy inside its duplicate
 * window).
 */
export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  return new Relay(options);
}

/** The MySQL half of the relay: the SQL that locks, marks and cleans up rows (it polls: there is nothing to LISTEN to). */
class Relay extends RelayLoop {
  readonly #t: Tables;

  constructor(private readonly o: OutboxRelayOptions) {
    super(o, 250);
    this.#t = tables(o);
    this.start();
  }

  protected async batch(): Promise<number> {
    const t = this.#t.outbox;
    const conn = await this.o.pool.getConnection();
    let broken = false;
    try {
      // READ COMMITTED, as PostgreSQL's default: the check for earlier rows of a key reads what is committed now.
      await conn.query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED");
      await conn.beginTransaction();
      const locked = await rows<Row>(
        conn,
        // o.seq, not seq: a bare name in ORDER BY means the select list's alias, the string, which sorts "10" before "9".
        `SELECT CAST(o.seq AS CHAR) AS seq, o.event_id, o.key_hash, o.domain, o.template, o.fields, o.data, o.attributes, o.qos, o.ttl_ms, o.deliver_at_ms, o.attempts
         FROM ${t} o WHERE o.sent_at IS NULL AND o.next_attempt_at <= ${NOW} ORDER BY o.seq LIMIT ? FOR UPDATE SKIP LOCKED`,
        [this.batchSize],
      );
      this.stats.batches++;
      let due = locked;
      if (locked.length > 0) {
        // Per key, the first unsent row outside this batch: rows of the key from there on wait for it.
        const hashes = [...new Map(locked.map((r) => [r.key_hash.toString("hex"), r.key_hash])).values()];
        const blockers = await rows<{ h: string; first: string }>(
          conn,
          `SELECT HEX(key_hash) AS h, CAST(MIN(seq) AS CHAR) AS first FROM ${t}
           WHERE sent_at IS NULL AND key_hash IN (?) AND seq NOT IN (?) GROUP BY key_hash`,
          [hashes, locked.map((r) => r.seq)],
        );
        const firstOutside = new Map(blockers.map((b) => [b.h.toLowerCase(), BigInt(b.first)]));
        due = locked.filter((r) => {
          const first = firstOutside.get(r.key_hash.toString("hex"));
          return first === undefined || BigInt(r.seq) < first;
        });
      }
      const { sent, failed } = await this.publish(due.map(dueRow));
      if (sent.length > 0) await exec(conn, `UPDATE ${t} SET sent_at = ${NOW} WHERE seq IN (?)`, [sent]);
      for (const f of failed) {
        await exec(conn, `UPDATE ${t} SET attempts = ?, last_error = ?, next_attempt_at = ${NOW} + INTERVAL ? MICROSECOND WHERE seq = ?`, [f.attempts, f.error, micros(f.delayMs), f.seq]);
      }
      await conn.commit();
      await this.#cleanup(conn);
      return sent.length;
    } catch (err) {
      try {
        await conn.rollback();
      } catch {
        broken = true;
      }
      throw err;
    } finally {
      if (broken) conn.destroy();
      else conn.release();
    }
  }

  async #cleanup(conn: mysql.PoolConnection): Promise<void> {
    const keep = this.cleanupDue();
    if (keep === undefined) return;
    await exec(conn, `DELETE FROM ${this.#t.outbox} WHERE sent_at IS NOT NULL AND sent_at <= ${NOW} - INTERVAL ? MICROSECOND LIMIT 10000`, [micros(keep)]);
  }
}

/** The JSON columns come as text and the deliver time as epoch ms: decode them only when the row's turn comes. */
function dueRow(row: Row): DueRow {
  return {
    seq: row.seq,
    eventId: row.event_id,
    // The hash stands for the key: equal exactly when the keys are, and it is what the row is indexed by.
    key: row.key_hash.toString("hex"),
    attempts: row.attempts,
    stored: () => ({
      domain: row.domain,
      template: row.template,
      fields: JSON.parse(row.fields) as Record<string, string>,
      data: row.data,
      attributes: JSON.parse(row.attributes) as StoredAttributes,
      qos: row.qos,
      ttlMs: row.ttl_ms,
      deliverAt: row.deliver_at_ms !== null ? new Date(Number(row.deliver_at_ms)) : null,
    }),
  };
}
