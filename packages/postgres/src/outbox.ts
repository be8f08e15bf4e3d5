import pg from "pg";
import { ConfigError } from "@cozebus/core";
import { RelayLoop, outboxRowValues, type DueRow, type OutboxRelay, type RelayOptions, type StoredAttributes } from "@cozebus/core/outbox";
import type { OutgoingEvent, QualityOfService } from "@cozebus/core/transport";
import { tables, type TableOptions, type Tables } from "./names.js";
import type { Queryable } from "./queryable.js";

export interface EnqueueOptions {
  /**
   * Events with the same key are published in the order they were enqueued
   * (commit order of their rows' sequence numbers), across relays. Default:
   * the event's address (domain, template and field values), i.e. order per
   * subject. Pass the aggregate's id (a workflow id) to order all its events.
   */
  readonly key?: string;
}

/** The row of one enqueued event. */
export interface Enqueued {
  /** The ce-id (and Nats-Msg-Id): fixed now, so every re-publish after a crash carries the same one. */
  readonly id: string;
  /** The row's sequence number (bigint as a string). */
  readonly seq: string;
}

/**
 * The transactional outbox: `enqueue(tx, event)` writes an event in the
 * caller's transaction; a relay (`startOutboxRelay`) publishes the
 * committed ones. A rolled-back transaction leaves no row, so nothing is
 * published for it.
 */
export class PostgresOutbox {
  readonly #t: Tables;

  constructor(options: TableOptions = {}) {
    this.#t = tables(options);
  }

  /**
   * Writes `event` (address, bytes, attributes, qos, ttl, deliverAt) into the
   * outbox inside `tx`, a client in your transaction (after BEGIN; see
   * `withTransaction`). Its id (ce-id) is `event.attributes.id` or a new
   * UUID, and its time is now, both fixed here. Wakes the relays
   * (NOTIFY, delivered when the transaction commits).
   */
  async enqueue(tx: pg.ClientBase, event: OutgoingEvent, options: EnqueueOptions = {}): Promise<Enqueued> {
    const [one] = await this.enqueueMany(tx, [event], options.key === undefined ? undefined : [options.key]);
    return one!;
  }

  /** `enqueue` for several events, in this order, in one statement; `keys[i]` is the ordering key of `events[i]`. */
  async enqueueMany(tx: pg.ClientBase, events: readonly OutgoingEvent[], keys?: readonly (string | undefined)[]): Promise<Enqueued[]> {
    if (tx instanceof pg.Pool) {
      throw new ConfigError("outbox.enqueue(tx)", "takes the client of your transaction (pool.connect() + BEGIN, or withTransaction), not the pool: on a pool the event would be written outside your transaction");
    }
    return insertOutboxRows(tx, this.#t, events, keys);
  }
}

/**
 * The outbox INSERT (one statement for all `events`) and the NOTIFY that
 * wakes relays when the transaction commits, on `tx`, a connection inside
 * the caller's transaction (pg or the Kysely adapter).
 */
export async function insertOutboxRows(tx: Queryable, t: Tables, events: readonly OutgoingEvent[], keys?: readonly (string | undefined)[]): Promise<Enqueued[]> {
  if (events.length === 0) return [];
  const now = new Date();
  const cols = 11;
  const values: unknown[] = [];
  const rows: string[] = [];
  const ids: string[] = [];
  outboxRowValues(events, keys, now).forEach((row, i) => {
    ids.push(row.id);
    values.push(
      row.id,
      row.key,
      row.domain,
      row.template,
      row.fields,
      Buffer.from(row.data.buffer, row.data.byteOffset, row.data.byteLength),
      row.attributes,
      row.qos,
      row.ttlMs,
      row.deliverAt,
      now,
    );
    const b = i * cols;
    rows.push(`(${Array.from({ length: cols }, (_, j) => `$${b + j + 1}`).join(", ")})`);
  });
  const r = await tx.query<{ seq: string; event_id: string }>(
    `INSERT INTO ${t.outbox} (event_id, ordering_key, domain, template, fields, data, attributes, qos, ttl_ms, deliver_at, created_at)
     VALUES ${rows.join(", ")} RETURNING seq::text AS seq, event_id`,
    values,
  );
  await tx.query("SELECT pg_notify($1, '')", [t.channel]);
  const seqOf = new Map(r.rows.map((row) => [row.event_id, row.seq]));
  return ids.map((id) => ({ id, seq: seqOf.get(id)! }));
}

export interface OutboxRelayOptions extends TableOptions, RelayOptions {
  readonly pool: pg.Pool;
  /** Poll when no NOTIFY came (default 1000 ms). */
  readonly pollIntervalMs?: number;
  /** LISTEN for enqueues on a dedicated connection, so a committed event goes out at once (default true). */
  readonly listen?: boolean;
}

export type { OutboxRelay };
export { OutboxPublishError } from "@cozebus/core/outbox";

interface Row {
  seq: string;
  event_id: string;
  ordering_key: string;
  domain: string;
  template: string;
  fields: Record<string, string>;
  data: Buffer;
  attributes: StoredAttributes;
  qos: QualityOfService;
  ttl_ms: number | null;
  deliver_at: Date | null;
  attempts: number;
}

/**
 * Publishes committed outbox rows through `transport`, in seq order per
 * ordering key, and marks them sent. Several relays may run: each batch
 * locks its rows (`FOR UPDATE SKIP LOCKED`), and a row is taken only when
 * every earlier unsent row of its key is in the same batch, so one key's
 * events are never published out of order or by two relays at once. The
 * lock is held until the batch's marks commit: a relay that dies between
 * publish and mark leaves its rows unsent, and the next relay publishes
 * them again with the same ce-id (JetStream drops the copy inside its
 * duplicate window). A failed publish keeps the row (and the rest of its
 * key) for a retry with backoff.
 */
export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  return new Relay(options);
}

/** The PostgreSQL half of the relay: LISTEN/NOTIFY, and the SQL that locks, marks and cleans up rows. */
class Relay extends RelayLoop {
  readonly #t: Tables;
  #listener: pg.PoolClient | undefined;
  #dropListener: ((err?: Error) => void) | undefined;

  constructor(private readonly o: OutboxRelayOptions) {
    super(o, 1000);
    this.#t = tables(o);
    this.start();
  }

  protected override beforeRound(): Promise<void> {
    return this.#listen();
  }

  protected override afterStop(): void {
    this.#dropListener?.();
  }

  async #listen(): Promise<void> {
    if (this.o.listen === false || this.#listener || this.stopping) return;
    try {
      const client = await this.o.pool.connect();
      let released = false;
      const drop = (err?: Error): void => {
        if (released) return;
        released = true;
        client.removeListener("notification", onNotification);
        client.removeListener("error", onError);
        if (this.#listener === client) this.#listener = undefined;
        client.release(err ?? true); // never back to the pool: it was LISTENing
      };
      const onNotification = (): void => this.wake();
      const onError = (err: Error): void => {
        this.report(err);
        drop(err);
      };
      client.on("notification", onNotification);
      client.on("error", onError);
      this.#dropListener = drop;
      await client.query(`LISTEN "${this.#t.channel}"`);
      this.#listener = client;
      if (this.stopping) drop(); // stop() came while this was connecting
    } catch (err) {
      this.report(err); // polling goes on; LISTEN is tried again next round
    }
  }

  protected async batch(): Promise<number> {
    const t = this.#t.outbox;
    const client = await this.o.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query("BEGIN");
      // Lock due rows (skipping other relays' batches), then keep those whose key has no earlier unsent row outside this batch.
      const r = await client.query<Row>(
        `WITH locked AS (
           SELECT seq FROM ${t} WHERE sent_at IS NULL AND next_attempt_at <= now()
           ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED
         )
         SELECT o.seq::text AS seq, o.event_id, o.ordering_key, o.domain, o.template, o.fields, o.data, o.attributes, o.qos, o.ttl_ms, o.deliver_at, o.attempts
         FROM ${t} o JOIN locked l ON l.seq = o.seq
         WHERE NOT EXISTS (
           SELECT 1 FROM ${t} p
           WHERE p.ordering_key = o.ordering_key AND p.sent_at IS NULL AND p.seq < o.seq AND p.seq NOT IN (SELECT seq FROM locked)
         )
         ORDER BY o.seq`,
        [this.batchSize],
      );
      this.stats.batches++;
      const { sent, failed } = await this.publish(r.rows.map(dueRow));
      if (sent.length > 0) await client.query(`UPDATE ${t} SET sent_at = now() WHERE seq = ANY($1::bigint[])`, [sent]);
      for (const f of failed) {
        await client.query(`UPDATE ${t} SET attempts = $2, last_error = $3, next_attempt_at = now() + $4 * interval '1 millisecond' WHERE seq = $1`, [
          f.seq,
          f.attempts,
          f.error,
          f.delayMs,
        ]);
      }
      await client.query("COMMIT");
      await this.#cleanup(client);
      return sent.length;
    } catch (err) {
      try {
        await client.query("ROLLBACK");
      } catch (rollbackErr) {
        broken = rollbackErr as Error;
      }
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async #cleanup(client: pg.PoolClient): Promise<void> {
    const keep = this.cleanupDue();
    if (keep === undefined) return;
    await client.query(`DELETE FROM ${this.#t.outbox} WHERE sent_at IS NOT NULL AND sent_at <= now() - $1 * interval '1 millisecond'`, [keep]);
  }
}

/** pg has decoded the jsonb and timestamptz columns already: the row maps onto the stored event as it is. */
function dueRow(row: Row): DueRow {
  return {
    seq: row.seq,
    eventId: row.event_id,
    key: row.ordering_key,
    attempts: row.attempts,
    stored: () => ({
      domain: row.domain,
      template: row.template,
      fields: row.fields,
      data: row.data,
      attributes: row.attributes,
      qos: row.qos,
      ttlMs: row.ttl_ms,
      deliverAt: row.deliver_at,
    }),
  };
}
