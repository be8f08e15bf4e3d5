/**
 * Effectively once with MySQL / MariaDB, end to end on the typed layer: the
 * service's write and its event in one transaction (outbox, published by a
 * relay), and a handler whose writes and "done" mark commit together
 * (inbox). Type-checked with the package; test/example.test.ts runs it on a
 * real MariaDB and nats-server.
 */
import type mysql from "mysql2/promise";
import type { EventSubscription, Transport } from "@cozebus/core";
import { workflow } from "@cozebus/workflow";
import { MysqlInboxStore, type MysqlOutbox, migrate, startOutboxRelay, withTransaction, type OutboxRelay } from "@cozebus/mysql";

export async function setup(pool: mysql.Pool): Promise<void> {
  await migrate(pool); // cozebus_inbox + cozebus_outbox, idempotent
  await pool.query("CREATE TABLE IF NOT EXISTS runs (workflow_id VARCHAR(64) PRIMARY KEY, status VARCHAR(16) NOT NULL) ENGINE=InnoDB");
  await pool.query("CREATE TABLE IF NOT EXISTS billing (event_id VARCHAR(255) PRIMARY KEY, workflow_id VARCHAR(64) NOT NULL) ENGINE=InnoDB");
}

/** Producer: the run and its event commit together, or neither does. */
export function startRun(pool: mysql.Pool, outbox: MysqlOutbox, transport: Transport, workflowId: string): Promise<string> {
  const wf = workflow(transport);
  return withTransaction(pool, async (tx) => {
    await tx.query("INSERT INTO runs VALUES (?, 'started')", [workflowId]);
    const { id } = await outbox.enqueue(tx, wf.executionStarted.prepare({ workflowId, executeId: 1n, startedAt: new Date() }), { key: workflowId });
    return id; // the ce-id, fixed now: every re-publish carries it
  });
}

/** The relay, in-process (or in a process of its own: the same call); it polls, MySQL has no NOTIFY. */
export function relay(pool: mysql.Pool, transport: Transport): OutboxRelay {
  return startOutboxRelay({ pool, transport, onError: (err) => console.warn(err.message) });
}

/** Consumer: the bill and the "done" mark in one transaction; a redelivery finds it done and bills nothing. */
export function bill(pool: mysql.Pool, transport: Transport, onBilled: () => void = () => undefined): Promise<EventSubscription> {
  const inbox = new MysqlInboxStore(pool);
  return workflow(transport).executionStarted.subscribe(
    async (event, ctx) => {
      await inbox.transaction(ctx.idempotency!, async (tx) => {
        await tx.query("INSERT INTO billing VALUES (?, ?)", [ctx.id, event.workflowId]);
      });
      onBilled();
    },
    { group: "billing", idempotency: { store: inbox } },
  );
}
