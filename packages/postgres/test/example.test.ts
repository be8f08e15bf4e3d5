// Imports the package by name, as the example does: it runs the built package (dist).
import { afterAll, beforeAll, expect, it } from "vitest";
import pg from "pg";
import { startNatsServer, startPostgres, waitFor, type NatsServer, type PostgresServer } from "@cozebus/testing";
import { openBus, type Bus } from "@cozebus/nats";
import { workflow } from "@cozebus/workflow";
import { PostgresOutbox } from "@cozebus/postgres";
import { bill, relay, setup, startRun } from "../examples/effectively-once.js";

let db: PostgresServer;
let nats: NatsServer;
let pool: pg.Pool;
let bus: Bus;
beforeAll(async () => {
  [db, nats] = await Promise.all([startPostgres(), startNatsServer()]);
  pool = new pg.Pool({ connectionString: db.url });
  pool.on("error", () => undefined); // idle clients see the server stop at the end
  await setup(pool);
  bus = await openBus({ servers: nats.url, env: {}, logger: { info: () => undefined, warn: () => undefined, error: () => undefined }, onError: () => undefined });
  // A 1 s duplicate window, so the test can resend past it (a deployment keeps the 2 min default).
  await workflow(bus).provision({ limits: { duplicateWindowMs: 1000 } });
});
afterAll(async () => {
  await bus?.close();
  await pool?.end();
  await Promise.all([db?.stop(), nats?.stop()]);
});

it("the README example on real servers: the run and its event commit together, the relay publishes it, and the event delivered again bills once", async () => {
  const transport = bus.transport;
  const id = await startRun(pool, new PostgresOutbox(), transport, "wf_1");
  let billed = 0;
  const sub = await bill(pool, transport, () => billed++);
  const r = relay(pool, transport);
  try {
  await waitFor("the event billed", async () => (await pool.query<{ n: number }>("select count(*)::int as n from billing")).rows[0]!.n === 1, 10_000);
  // The same event again, as a resend past the stream's duplicate window brings it (a relay that crashed between
  // publish and mark, and came back later): JetStream stores it a second time, with the same ce-id.
  await new Promise((r) => setTimeout(r, 1200));
  const js = await bus.jetstream();
  const again = await js.publish("coze.workflow.wf_1.started", (await pool.query<{ data: Buffer }>("select data from cozebus_outbox where event_id = $1", [id])).rows[0]!.data, {
    type: "coze.workflow.v1.WorkflowExecutionStarted",
    id,
  });
  expect(again.duplicate).toBe(false); // stored again: only the inbox stands between it and a second bill
  // The group's consumer (named after the group and its filter) has nothing left pending or unacked: the copy was settled.
  const unsettled = async (): Promise<number> => {
    let n = 0;
    for await (const c of js.jsm.consumers.list("COZE_WORKFLOW")) if (c.name.startsWith("billing")) n += c.num_ack_pending + c.num_pending + (c.delivered.stream_seq < again.seq ? 1 : 0);
    return n;
  };
  await waitFor("the second copy settled", async () => (await unsettled()) === 0, 10_000);
  expect((await pool.query("select event_id from billing")).rows).toEqual([{ event_id: id }]);
  expect(billed).toBe(1);
  } finally {
    await r.stop();
    await sub.stop();
  }
});
