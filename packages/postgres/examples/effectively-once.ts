/**
 * Effectively once with PostgreSQL, end to end on the typed layer: a service
 * writes its state and its event in one transaction (outbox, published by a
 * relay), and a handler whose writes and "done" mark commit together
 * (inbox). Type-checked with the package; test/example.test.ts runs it on a
 * real nats-server and a real PostgreSQL.
 */
import pg from "pg";
import type { EventSubscription, Transport } from "@cozebus/core";
import { workflow } from "@cozebus/workflow";
import { PostgresInboxStore, PostgresOutbox, migrate, startOutboxRelay, withTransaction, type OutboxRelay } from "@cozebus/postgres";

export async function setup(pool: pg.Pool): Promise<void> {
  await migrate(pool); // cozebus_inbox + cozebus_outbox, idempotent
  await pool.query("CREATE TABLE IF NOT EXISTS runs (workflow_id text PRIMARY KEY, status text NOT NULL)");
  await pool.query("CREATE TABLE IF NOT EXISTS billing (event_id text PRIMARY KEY, workflow_id text NOT NULL)");
}

/** Producer side: the state change and its event commit together, or neither does. */
export async function startRun(pool: pg.Pool, outbox: PostgresOutbox, transport: Transport, workflowId: string): Promise<string> {
  const wf = workflow(transport);
  return withTransaction(pool, async (tx) => {
    await tx.query("INSERT INTO runs VALUES ($1, 'started')", [workflowId]);
    // prepare(): the typed event, validated and encoded, not sent; the relay publishes it after COMMIT.
    const { id } = await outbox.enqueue(tx, wf.executionStarted.prepare({ workflowId, executeId: 1n, startedAt: new Date() }), { key: workflowId });
    return id; // the ce-id, fixed now: every re-publish carries it
  });
}

/** The relay, in-process (or in its own process: the same call). */
export function relay(pool: pg.Pool, transport: Transport): OutboxRelay {
  return startOutboxRelay({ pool, transport, onError: (err) => console.warn(err.message) });
}

/**
 * Consumer side: `idempotency` guards the handler with the inbox; the
 * handler bills inside the claim's transaction, so a redelivery — after a
 * crash between COMMIT and ack, or a resend after the duplicate window —
 * finds the event done and is acked without billing twice.
 */
export function bill(pool: pg.Pool, transport: Transport, onBilled: () => void = () => undefined): Promise<EventSubscription> {
  const inbox = new PostgresInboxStore(pool);
  return workflow(transport).executionStarted.subscribe(
    async (event, ctx) => {
      await inbox.transaction(ctx.idempotency!, async (tx) => {
        await tx.query("INSERT INTO billing VALUES ($1, $2)", [ctx.id, event.workflowId]);
      });
      onBilled();
    },
    { group: "billing", idempotency: { store: inbox } },
  );
}
