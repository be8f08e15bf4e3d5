import { createHash } from "node:crypto";
import type mysql from "mysql2/promise";
import { ConfigError } from "@cozebus/core";
import { outboxRowValues } from "@cozebus/core/outbox";
import type { OutgoingEvent } from "@cozebus/core/transport";
import { isPool, rows, type Db } from "./db.js";
import { tables, type TableOptions, type Tables } from "./names.js";

export interface EnqueueOptions {
  /** Events with the same key are published in seq order, across relays. Default: the event's address (order per subject). */
  readonly key?: string;
}

/** The row of one enqueued event. */
export interface Enqueued {
  /** The ce-id (and Nats-Msg-Id): fixed now, so every re-publish after a crash carries the same one. */
  readonly id: string;
  /** The row's sequence number (as a string: BIGINT). */
  readonly seq: string;
}

export const keyHash = (key: string): Buffer => createHash("sha256").update(key).digest();

/**
 * The transactional outbox on MySQL / MariaDB: `enqueue(tx, event)` writes
 * the event in the caller's transaction; a relay (`startOutboxRelay`)
 * publishes the committed ones. A rolled-back transaction leaves no row.
 */
export class MysqlOutbox {
  readonly #t: Tables;

  constructor(options: TableOptions = {}) {
    this.#t = tables(options);
  }

  /**
   * Writes `event` into the outbox inside `tx`, a connection in your
   * transaction (after beginTransaction(); see `withTransaction`). Its ce-id
   * (`event.attributes.id` or a new UUID) and time are fixed here. Refuses
   * a pool: that would write outside your transaction.
   */
  async enqueue(tx: mysql.PoolConnection | mysql.Connection, event: OutgoingEvent, options: EnqueueOptions = {}): Promise<Enqueued> {
    const [one] = await this.enqueueMany(tx, [event], options.key === undefined ? undefined : [options.key]);
    return one!;
  }

  /** `enqueue` for several events, in this order, in one statement; `keys[i]` orders `events[i]`. */
  async enqueueMany(tx: mysql.PoolConnection | mysql.Connection, events: readonly OutgoingEvent[], keys?: readonly (string | undefined)[]): Promise<Enqueued[]> {
    if (isPool(tx)) {
      throw new ConfigError("outbox.enqueue(tx)", "takes the connection of your transaction (pool.getConnection() + beginTransaction(), or withTransaction), not the pool: on a pool the event would be written outside your transaction");
    }
    if (events.length === 0) return [];
    const db: Db = tx;
    const now = new Date();
    const values: unknown[][] = [];
    const ids: string[] = [];
    for (const row of outboxRowValues(events, keys, now)) {
      ids.push(row.id);
      values.push([
        row.id,
        row.key,
        keyHash(row.key),
        row.domain,
        row.template,
        row.fields,
        Buffer.from(row.data.buffer, row.data.byteOffset, row.data.byteLength),
        row.attributes,
        row.qos,
        row.ttlMs,
        row.deliverAt?.getTime() ?? null,
      ]);
    }
    await db.query(
      `INSERT INTO ${this.#t.outbox} (event_id, ordering_key, key_hash, domain, template, fields, data, attributes, qos, ttl_ms, deliver_at_ms, created_at, next_attempt_at)
       VALUES ${values.map(() => "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))").join(", ")}`,
      values.flat(),
    );
    // The ids one statement got need not be consecutive (innodb_autoinc_lock_mode 2): read them back.
    const got = await rows<{ seq: string; event_id: string }>(db, `SELECT CAST(seq AS CHAR) AS seq, event_id FROM ${this.#t.outbox} WHERE event_id IN (?)`, [ids]);
    const seqOf = new Map(got.map((r) => [r.event_id, r.seq]));
    return ids.map((id) => ({ id, seq: seqOf.get(id)! }));
  }
}
