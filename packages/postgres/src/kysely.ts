/**
 * @cozebus/postgres/kysely — the outbox and the inbox for services whose
 * database code is Kysely (0.28 or 0.29, PostgresDialect): `outbox.enqueue(trx,
 * event)` inside a Kysely transaction, and an inbox store that marks
 * "done" inside one. The same statements and tables as the pg API; the
 * relay stays `startOutboxRelay({ pool })` (or `cozebus outbox relay`),
 * since it needs LISTEN and a connection of its own, which Kysely does not
 * expose.
 */
import { CompiledQuery, type Kysely, type Transaction } from "kysely";
import { ConfigError } from "@cozebus/core";
import type { OutgoingEvent } from "@cozebus/core/transport";
import { SqlInbox, type CompleteInKey } from "./inbox.js";
import { tables, type TableOptions, type Tables } from "./names.js";
import { insertOutboxRows, type EnqueueOptions, type Enqueued } from "./outbox.js";
import type { Queryable } from "./queryable.js";

/** Runs the package's $1-parameterized statements on a Kysely instance or transaction, as they are. */
function queryable<DB>(db: Kysely<DB>): Queryable {
  return {
    async query<R extends object>(text: string, values: unknown[] = []) {
      const r = await db.executeQuery<R>(CompiledQuery.raw(text, values));
      return { rows: [...r.rows], rowCount: r.numAffectedRows !== undefined ? Number(r.numAffectedRows) : r.rows.length };
    },
  };
}

function requireTransaction<DB>(trx: Kysely<DB>, where: string): void {
  if (!trx.isTransaction) {
    throw new ConfigError(where, "takes the Transaction your db.transaction().execute(async (trx) => ...) callback gets, not the Kysely instance: on the instance the write would happen outside your transaction");
  }
}

/** The transactional outbox on Kysely: `enqueue(trx, event)` writes the event in your transaction; a rolled-back one leaves no row. */
export class KyselyOutbox {
  readonly #t: Tables;

  constructor(options: TableOptions = {}) {
    this.#t = tables(options);
  }

  /**
   * Writes `event` into the outbox inside `trx` (a Kysely `Transaction`);
   * its ce-id (`event.attributes.id` or a new UUID) and time are fixed now.
   * Wakes the relays when the transaction commits. Refuses the Kysely
   * instance itself (that would write outside your transaction).
   */
  async enqueue<DB>(trx: Transaction<DB>, event: OutgoingEvent, options: EnqueueOptions = {}): Promise<Enqueued> {
    const [one] = await this.enqueueMany(trx, [event], options.key === undefined ? undefined : [options.key]);
    return one!;
  }

  /** `enqueue` for several events, in this order, in one statement; `keys[i]` orders `events[i]`. */
  enqueueMany<DB>(trx: Transaction<DB>, events: readonly OutgoingEvent[], keys?: readonly (string | undefined)[]): Promise<Enqueued[]> {
    requireTransaction(trx, "outbox.enqueue(trx)");
    return insertOutboxRows(queryable(trx), this.#t, events, keys);
  }
}

/**
 * The inbox on Kysely: the same table and semantics as
 * `PostgresInboxStore` (an `InboxStore` for `guard` and the typed layer's
 * `idempotency`), with `completeIn(trx, claim)` and `transaction(claim, fn)`
 * taking Kysely transactions, so the handler's writes and the "done" mark
 * commit together or not at all.
 */
export class KyselyInboxStore<DB> extends SqlInbox {
  constructor(
    private readonly kdb: Kysely<DB>,
    options: TableOptions = {},
  ) {
    super(queryable(kdb), options);
  }

  /**
   * Marks the event done inside `trx`; AlreadyHandledError when another
   * replica committed it first (this one waited for its row lock): let it
   * roll the transaction back, `guard` acks the event. Call it first in the
   * transaction, to hold the event's row lock from the start.
   */
  async completeIn(trx: Transaction<DB>, key: CompleteInKey): Promise<void> {
    requireTransaction(trx, "inbox.completeIn(trx)");
    await this.markDoneIn(queryable(trx), key);
  }

  /** `db.transaction().execute(...)`: mark done, then `fn(trx)`; an event done already rolls back before `fn` runs. */
  transaction<T>(key: CompleteInKey, fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
    return this.kdb.transaction().execute(async (trx) => {
      await this.completeIn(trx, key);
      return fn(trx);
    });
  }
}
