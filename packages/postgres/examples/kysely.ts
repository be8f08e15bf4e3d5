/**
 * The effectively-once example with Kysely (0.29, PostgresDialect on pg):
 * the outbox row and the service's write in one Kysely transaction, and a
 * handler whose writes and "done" mark commit together. Type-checked with
 * the package; test/kysely.test.ts runs it on a real PostgreSQL and nats-server.
 */
import type pg from "pg";
import { Kysely, PostgresDialect, sql } from "kysely";
import type { EventSubscription, Transport } from "@cozebus/core";
import { workflow } from "@cozebus/workflow";
import { migrate, startOutboxRelay, type OutboxRelay } from "@cozebus/postgres";
import { KyselyInboxStore, type KyselyOutbox } from "@cozebus/postgres/kysely";

/** The service's own tables, as Kysely sees them. */
export interface Database {
  runs: { workflow_id: string; status: string };
  billing: { event_id: string; workflow_id: string };
}

export function database(pool: pg.Pool): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

export async function setup(pool: pg.Pool, db: Kysely<Database>): Promise<void> {
  await migrate(pool); // cozebus_inbox + cozebus_outbox (or put migrationSql() into your Kysely migrations)
  await sql`CREATE TABLE IF NOT EXISTS runs (workflow_id text PRIMARY KEY, status text NOT NULL)`.execute(db);
  await sql`CREATE TABLE IF NOT EXISTS billing (event_id text PRIMARY KEY, workflow_id text NOT NULL)`.execute(db);
}

/** Producer: the run and its event commit together, or neither does. */
export function startRun(db: Kysely<Database>, outbox: KyselyOutbox, transport: Transport, workflowId: string): Promise<string> {
  const wf = workflow(transport);
  return db.transaction().execute(async (trx) => {
    await trx.insertInto("runs").values({ workflow_id: workflowId, status: "started" }).execute();
    const { id } = await outbox.enqueue(trx, wf.executionStarted.prepare({ workflowId, executeId: 1n, startedAt: new Date() }), { key: workflowId });
    return id; // the ce-id, fixed now
  });
}

/** The relay takes the pg.Pool under the dialect (it LISTENs on a connection of its own). */
export function relay(pool: pg.Pool, transport: Transport): OutboxRelay {
  return startOutboxRelay({ pool, transport, onError: (err) => console.warn(err.message) });
}

/** Consumer: the bill and the inbox's "done" mark in one Kysely transaction. */
export function bill(db: Kysely<Database>, transport: Transport, onBilled: () => void = () => undefined): Promise<EventSubscription> {
  const inbox = new KyselyInboxStore(db);
  return workflow(transport).executionStarted.subscribe(
    async (event, ctx) => {
      await inbox.transaction(ctx.idempotency!, async (trx) => {
        await trx.insertInto("billing").values({ event_id: ctx.id, workflow_id: event.workflowId }).execute();
      });
      onBilled();
    },
    { group: "billing", idempotency: { store: inbox } },
  );
}
