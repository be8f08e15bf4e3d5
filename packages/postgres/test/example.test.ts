// Imports the package by name, as the example does: it runs the built package (dist).
import { afterAll, beforeAll, expect, it } from "vitest";
import pg from "pg";
import { startPostgres, type PostgresServer } from "@cozebus/testing";
import type { Delivery } from "@cozebus/core/transport";
import { PostgresInboxStore, PostgresOutbox } from "@cozebus/postgres";
import { billingHandler, setup, startRun } from "../examples/effectively-once.js";

let db: PostgresServer;
let pool: pg.Pool;
beforeAll(async () => {
  db = await startPostgres();
  pool = new pg.Pool({ connectionString: db.url });
  await setup(pool);
});
afterAll(async () => {
  await pool?.end();
  await db?.stop();
});

it("the README example: a run and its event commit together; the event handled three times bills once", async () => {
  const id = await startRun(pool, new PostgresOutbox(), "wf_1");
  const rows = await pool.query<{ event_id: string }>("select event_id from cozebus_outbox");
  expect(rows.rows).toEqual([{ event_id: id }]);
  const delivery = (attempt: number): Delivery => ({
    subject: "coze.workflow.wf_1.started",
    data: new TextEncoder().encode("wf_1"),
    headers: { get: () => undefined, has: () => false, entries: () => [] },
    event: { id, type: "coze.workflow.v1.WorkflowExecutionStarted", source: "test", time: undefined, contentType: "application/protobuf", traceparent: undefined },
    attempt,
    position: `COZE_WORKFLOW#${attempt}`,
    working: () => undefined,
  });
  const handle = billingHandler(new PostgresInboxStore(pool));
  for (const attempt of [1, 2, 3]) expect(await handle(delivery(attempt))).toEqual({ type: "ack" });
  expect((await pool.query("select count(*)::int as n from billing")).rows[0]).toEqual({ n: 1 });
});
