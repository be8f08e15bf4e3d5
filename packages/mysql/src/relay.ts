import type mysql from "mysql2/promise";
import { SubjectTemplate, backoffDelay, type BackoffPolicy } from "@cozebus/core";
import type { OutgoingEvent, QualityOfService, Receipt, Transport } from "@cozebus/core/transport";
import { exec, micros, rows } from "./db.js";
import { tables, type TableOptions, type Tables } from "./names.js";
import type { StoredAttributes } from "./outbox.js";

export interface OutboxRelayOptions extends TableOptions {
  readonly pool: mysql.Pool;
  readonly transport: Transport;
  /** Rows taken per batch (default 100). */
  readonly batchSize?: number;
  /** How often an idle relay looks for committed rows (default 250 ms: MySQL has no LISTEN/NOTIFY to wake it). */
  readonly pollIntervalMs?: number;
  /** Backoff of a row whose publish failed (default 500 ms doubling to 60 s, jitter 0.2). No limit on attempts. */
  readonly backoff?: Partial<BackoffPolicy>;
  /** Sent rows are deleted after this long (default 10 min; 0: at once after the batch). */
  readonly keepSentMs?: number;
  /** How often sent rows are cleaned up (default 60 s). */
  readonly cleanupIntervalMs?: number;
  /** Failures: a publish that failed (the row stays and is retried), a lost database connection. */
  readonly onError?: (error: Error) => void;
  /** After each published event. */
  readonly onPublished?: (receipt: Receipt) => void;
}

export interface OutboxRelay {
  /** Publishes what is due now, once. Resolves with the number published. */
  flush(): Promise<number>;
  /** Stops taking rows, lets the batch in progress publish and mark. */
  stop(): Promise<void>;
  readonly stats: { readonly published: number; readonly failed: number; readonly batches: number };
}

/** A row's publish failed; the row stays and is retried with backoff. */
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

const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 60_000, multiplier: 2, jitter: 0.2 };
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

class Relay implements OutboxRelay {
  readonly #t: Tables;
  readonly #templates = new Map<string, SubjectTemplate>();
  readonly #backoff: BackoffPolicy;
  #stopping = false;
  #wake: (() => void) | undefined;
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

  async #run(): Promise<void> {
    while (!this.#stopping) {
      let published = 0;
      try {
        published = await this.flush();
      } catch (err) {
        this.#report(err);
      }
      if (this.#stopping) break;
      if (published > 0) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.o.pollIntervalMs ?? 250);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  flush(): Promise<number> {
    this.#running ??= this.#batch().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #batch(): Promise<number> {
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
        [this.o.batchSize ?? 100],
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
      const byKey = new Map<string, Row[]>();
      for (const row of due) {
        const k = row.key_hash.toString("hex");
        const list = byKey.get(k);
        if (list) list.push(row);
        else byKey.set(k, [row]);
      }
      const sent: string[] = [];
      const failed: Array<{ seq: string; attempts: number; error: string; delayMs: number }> = [];
      await Promise.all(
        [...byKey.values()].map(async (list) => {
          for (const row of list) {
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
      if (sent.length > 0) await exec(conn, `UPDATE ${t} SET sent_at = ${NOW} WHERE seq IN (?)`, [sent]);
      for (const f of failed) {
        await exec(conn, `UPDATE ${t} SET attempts = ?, last_error = ?, next_attempt_at = ${NOW} + INTERVAL ? MICROSECOND WHERE seq = ?`, [f.attempts, f.error.slice(0, 2000), micros(f.delayMs), f.seq]);
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
    const keep = this.o.keepSentMs ?? 600_000;
    const every = keep === 0 ? 0 : (this.o.cleanupIntervalMs ?? 60_000);
    if (Date.now() - this.#lastCleanup < every) return;
    this.#lastCleanup = Date.now();
    await exec(conn, `DELETE FROM ${this.#t.outbox} WHERE sent_at IS NOT NULL AND sent_at <= ${NOW} - INTERVAL ? MICROSECOND LIMIT 10000`, [micros(keep)]);
  }

  #event(row: Row): OutgoingEvent {
    let template = this.#templates.get(row.template);
    if (!template) this.#templates.set(row.template, (template = SubjectTemplate.parse(row.template)));
    const a = JSON.parse(row.attributes) as StoredAttributes;
    return {
      address: { domain: row.domain, template, fields: JSON.parse(row.fields) as Record<string, string> },
      data: new Uint8Array(row.data.buffer, row.data.byteOffset, row.data.byteLength),
      attributes: { ...a, time: new Date(a.time) },
      qos: row.qos,
      ...(row.ttl_ms !== null ? { ttlMs: row.ttl_ms } : {}),
      ...(row.deliver_at_ms !== null ? { deliverAt: new Date(Number(row.deliver_at_ms)) } : {}),
    };
  }

  async stop(): Promise<void> {
    if (this.#stopping) return this.#loop;
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
    await this.#running?.catch(() => undefined);
  }
}
