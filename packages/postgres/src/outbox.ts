import { randomUUID } from "node:crypto";
import pg from "pg";
import { ConfigError, SubjectTemplate, backoffDelay, type BackoffPolicy } from "@cozebus/core";
import type { OutgoingAttributes, OutgoingEvent, QualityOfService, Receipt, Transport } from "@cozebus/core/transport";
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

/** What the outbox stores of an event's attributes: all of them, fixed at enqueue time. */
interface StoredAttributes {
  readonly type: string;
  readonly id: string;
  readonly source?: string;
  readonly time: string;
  readonly contentType?: string;
  readonly traceparent?: string;
  readonly tracestate?: string;
  readonly headers?: Readonly<Record<string, string>>;
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
  events.forEach((e, i) => {
    const attributes = storedAttributes(e.attributes, now);
    ids.push(attributes.id);
    const template = e.address.template.template;
    const fields = e.address.fields;
    const key = keys?.[i] ?? `${e.address.domain}|${template}|${JSON.stringify(Object.entries(fields).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
    values.push(
      attributes.id,
      key,
      e.address.domain,
      template,
      JSON.stringify(fields),
      Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength),
      JSON.stringify(attributes),
      e.qos,
      e.ttlMs ?? null,
      e.deliverAt ?? null,
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

function storedAttributes(a: OutgoingAttributes, now: Date): StoredAttributes {
  return {
    type: a.type,
    id: a.id ?? randomUUID(),
    time: (a.time ?? now).toISOString(),
    ...(a.source !== undefined ? { source: a.source } : {}),
    ...(a.contentType !== undefined ? { contentType: a.contentType } : {}),
    ...(a.traceparent !== undefined ? { traceparent: a.traceparent } : {}),
    ...(a.tracestate !== undefined ? { tracestate: a.tracestate } : {}),
    ...(a.headers !== undefined ? { headers: a.headers } : {}),
  };
}

export interface OutboxRelayOptions extends TableOptions {
  readonly pool: pg.Pool;
  readonly transport: Transport;
  /** Rows taken per batch (default 100). */
  readonly batchSize?: number;
  /** Poll when no NOTIFY came (default 1000 ms). */
  readonly pollIntervalMs?: number;
  /** LISTEN for enqueues on a dedicated connection, so a committed event goes out at once (default true). */
  readonly listen?: boolean;
  /** Backoff of a row whose publish failed (default 500 ms doubling to 60 s, jitter 0.2). No limit on attempts: rows stay until published. */
  readonly backoff?: Partial<BackoffPolicy>;
  /** Sent rows are deleted after this long (default 10 min; 0: at once after the batch). */
  readonly keepSentMs?: number;
  /** How often sent rows are cleaned up (default 60 s). */
  readonly cleanupIntervalMs?: number;
  /** Failures: a publish that failed (the row stays and is retried), a lost database connection. */
  readonly onError?: (error: Error) => void;
  /** After each published event (for metrics and tests). */
  readonly onPublished?: (receipt: Receipt) => void;
}

export interface OutboxRelay {
  /** Publishes what is due now, once (the loop does this on its own). Resolves with the number published. */
  flush(): Promise<number>;
  /** Stops taking rows, lets the batch in progress publish and mark, then closes its connections. */
  stop(): Promise<void>;
  readonly stats: { readonly published: number; readonly failed: number; readonly batches: number };
}

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

export class OutboxPublishError extends Error {
  constructor(
    readonly eventId: string,
    readonly attempts: number,
    cause: unknown,
  ) {
    super(`outbox event ${eventId} was not published (attempt ${attempts}; ${cause instanceof Error ? cause.message : String(cause)}): the row stays and is retried`, { cause });
    this.name = "OutboxPublishError";
  }
}

const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 60_000, multiplier: 2, jitter: 0.2 };

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

class Relay implements OutboxRelay {
  readonly #t: Tables;
  readonly #templates = new Map<string, SubjectTemplate>();
  readonly #backoff: BackoffPolicy;
  #stopping = false;
  #wake: (() => void) | undefined;
  #listener: pg.PoolClient | undefined;
  #dropListener: ((err?: Error) => void) | undefined;
  #loop: Promise<void>;
  #running: Promise<number> | undefined;
  #lastCleanup = 0;
  readonly stats = { published: 0, failed: 0, batches: 0 };

  constructor(private readonly o: OutboxRelayOptions) {
    this.#t = tables(o);
    this.#backoff = { ...DEFAULT_BACKOFF, ...o.backoff };
    this.#loop = this.#run();
  }

  #report(err: unknown): void {
    try {
      this.o.onError?.(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // a reporter that throws must not stop the relay
    }
  }

  async #listen(): Promise<void> {
    if (this.o.listen === false || this.#listener || this.#stopping) return;
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
      const onNotification = (): void => this.#wake?.();
      const onError = (err: Error): void => {
        this.#report(err);
        drop(err);
      };
      client.on("notification", onNotification);
      client.on("error", onError);
      this.#dropListener = drop;
      await client.query(`LISTEN "${this.#t.channel}"`);
      this.#listener = client;
      if (this.#stopping) drop(); // stop() came while this was connecting
    } catch (err) {
      this.#report(err); // polling goes on; LISTEN is tried again next round
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      await this.#listen();
      let published = 0;
      try {
        published = await this.flush();
      } catch (err) {
        this.#report(err);
      }
      if (this.#stopping) break;
      if (published > 0) continue; // more may be waiting
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.o.pollIntervalMs ?? 1000);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  flush(): Promise<number> {
    // One batch at a time per relay: flush() from outside joins the one running.
    this.#running ??= this.#batch().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #batch(): Promise<number> {
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
        [this.o.batchSize ?? 100],
      );
      this.stats.batches++;
      const byKey = new Map<string, Row[]>();
      for (const row of r.rows) {
        const list = byKey.get(row.ordering_key);
        if (list) list.push(row);
        else byKey.set(row.ordering_key, [row]);
      }
      const sent: string[] = [];
      const failed: Array<{ seq: string; attempts: number; error: string; delayMs: number }> = [];
      // Keys in parallel, each key's rows one after another; a failure holds the rest of its key back.
      await Promise.all(
        [...byKey.values()].map(async (rows) => {
          for (const row of rows) {
            try {
              const receipt = await this.o.transport.publish(this.#event(row));
              sent.push(row.seq);
              this.stats.published++;
              this.o.onPublished?.(receipt);
            } catch (err) {
              const attempts = row.attempts + 1;
              this.stats.failed++;
              failed.push({ seq: row.seq, attempts, error: err instanceof Error ? err.message : String(err), delayMs: backoffDelay(this.#backoff, attempts) });
              this.#report(new OutboxPublishError(row.event_id, attempts, err));
              return;
            }
          }
        }),
      );
      if (sent.length > 0) await client.query(`UPDATE ${t} SET sent_at = now() WHERE seq = ANY($1::bigint[])`, [sent]);
      for (const f of failed) {
        await client.query(`UPDATE ${t} SET attempts = $2, last_error = $3, next_attempt_at = now() + $4 * interval '1 millisecond' WHERE seq = $1`, [
          f.seq,
          f.attempts,
          f.error.slice(0, 2000),
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
    const keep = this.o.keepSentMs ?? 600_000;
    const every = keep === 0 ? 0 : (this.o.cleanupIntervalMs ?? 60_000);
    if (Date.now() - this.#lastCleanup < every) return;
    this.#lastCleanup = Date.now();
    await client.query(`DELETE FROM ${this.#t.outbox} WHERE sent_at IS NOT NULL AND sent_at <= now() - $1 * interval '1 millisecond'`, [keep]);
  }

  #event(row: Row): OutgoingEvent {
    let template = this.#templates.get(row.template);
    if (!template) this.#templates.set(row.template, (template = SubjectTemplate.parse(row.template)));
    const a = row.attributes;
    return {
      address: { domain: row.domain, template, fields: row.fields },
      data: new Uint8Array(row.data.buffer, row.data.byteOffset, row.data.byteLength),
      attributes: { ...a, time: new Date(a.time) },
      qos: row.qos,
      ...(row.ttl_ms !== null ? { ttlMs: row.ttl_ms } : {}),
      ...(row.deliver_at !== null ? { deliverAt: row.deliver_at } : {}),
    };
  }

  async stop(): Promise<void> {
    if (this.#stopping) return this.#loop;
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
    await this.#running?.catch(() => undefined);
    this.#dropListener?.();
  }
}
