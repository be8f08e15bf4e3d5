/**
 * Effectively once with PostgreSQL, end to end: a handler whose writes and
 * "done" mark commit together (inbox), and a service that writes its state
 * and its event in one transaction (outbox), published by a relay.
 * Type-checked with the package; test/example.test.ts runs it.
 */
import pg from "pg";
import { SubjectTemplate } from "@cozebus/core";
import type { Delivery, Outcome, Transport } from "@cozebus/core/transport";
import { PostgresInboxStore, PostgresOutbox, guard, inboxEventId, migrate, startOutboxRelay, withTransaction, type OutboxRelay } from "@cozebus/postgres";

const started = SubjectTemplate.parse("coze.workflow.{workflow_id}.started");

export async function setup(pool: pg.Pool): Promise<void> {
  await migrate(pool); // cozebus_inbox + cozebus_outbox, idempotent
  await pool.query("CREATE TABLE IF NOT EXISTS runs (workflow_id text PRIMARY KEY, status text NOT NULL)");
  await pool.query("CREATE TABLE IF NOT EXISTS billing (event_id text PRIMARY KEY, workflow_id text NOT NULL)");
}

/** Producer side: the state change and its event commit together, or neither does. */
export async function startRun(pool: pg.Pool, outbox: PostgresOutbox, workflowId: string): Promise<string> {
  return withTransaction(pool, async (tx) => {
    await tx.query("INSERT INTO runs VALUES ($1, 'started')", [workflowId]);
    const { id } = await outbox.enqueue(
      tx,
      {
        address: { domain: "workflow", template: started, fields: { workflow_id: workflowId } },
        data: new TextEncoder().encode(workflowId),
        attributes: { type: "coze.workflow.v1.WorkflowExecutionStarted" },
        qos: "at-least-once",
      },
      { key: workflowId }, // all events of one workflow in order
    );
    return id; // the ce-id, fixed now: every re-publish carries it
  });
}

/** The relay, in-process (or in its own process: the same call). */
export function relay(pool: pg.Pool, transport: Transport): OutboxRelay {
  return startOutboxRelay({ pool, transport, onError: (err) => console.warn(err.message) });
}

/** Consumer side: what the typed layer does around a handler with `idempotency`. */
export function billingHandler(inbox: PostgresInboxStore): (delivery: Delivery) => Promise<Outcome> {
  return (delivery) =>
    guard(inbox, { group: "billing", eventId: inboxEventId(delivery) }, (claim) =>
      // The handler's writes and the "done" mark: one transaction.
      inbox.transaction(claim, async (tx) => {
        const workflowId = new TextDecoder().decode(delivery.data);
        await tx.query("INSERT INTO billing VALUES ($1, $2)", [claim.eventId, workflowId]);
        return { type: "ack" } as const;
      }),
    );
}
