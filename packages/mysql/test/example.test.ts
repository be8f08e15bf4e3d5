// Imports the package by name, as the example does: it runs the built package (dist).
import { afterAll, beforeAll, expect, it } from "vitest";
import mysql from "mysql2/promise";
import { startMariadb, startNatsServer, waitFor, type MariadbServer, type NatsServer } from "@cozebus/testing";
import { openBus, type Bus } from "@cozebus/nats";
import { workflow } from "@cozebus/workflow";
import { MysqlOutbox } from "@cozebus/mysql";
import { bill, relay, setup, startRun } from "../examples/effectively-once.js";

let db: MariadbServer;
let nats: NatsServer;
let pool: mysql.Pool;
let bus: Bus;
beforeAll(async () => {
  [db, nats] = await Promise.all([startMariadb(), startNatsServer()]);
  pool = mysql.createPool({ uri: db.url, connectionLimit: 8 });
  await setup(pool);
  bus = await openBus({ servers: nats.url, env: {}, logger: { info: () => undefined, warn: () => undefined, error: () => undefined }, onError: () => undefined });
  await workflow(bus).provision({ limits: { duplicateWindowMs: 1000 } });
});
afterAll(async () => {
  await bus?.close();
  await pool?.end();
  await Promise.all([db?.stop(), nats?.stop()]);
});

const billed = async (): Promise<string[]> => {
  const [rows] = await pool.query<mysql.RowDataPacket[]>("SELECT event_id FROM billing");
  return rows.map((r) => r["event_id"] as string);
};

it("the example on real servers: the run and its event commit together, the relay publishes it, and the event delivered again bills once", async () => {
  const transport = bus.transport;
  const id = await startRun(pool, new MysqlOutbox(), transport, "wf_1");
  let n = 0;
  const sub = await bill(pool, transport, () => n++);
  const r = relay(pool, transport);
  try {
    await waitFor("the event billed", async () => (await billed()).length === 1, 10_000);
    // The same event again past the 1 s duplicate window (a relay that crashed between publish and mark and came
    // back later): JetStream stores it a second time, with the same ce-id; only the inbox stands between it and a second bill.
    await new Promise((res) => setTimeout(res, 1200));
    const js = await bus.jetstream();
    const [rows] = await pool.query<mysql.RowDataPacket[]>("SELECT data FROM cozebus_outbox WHERE event_id = ?", [id]);
    const again = await js.publish("coze.workflow.wf_1.started", rows[0]!["data"] as Buffer, { type: "coze.workflow.v1.WorkflowExecutionStarted", id });
    expect(again.duplicate).toBe(false);
    await waitFor("the second copy settled", async () => {
      let pending = 0;
      for await (const c of js.jsm.consumers.list("COZE_WORKFLOW")) if (c.name.startsWith("billing")) pending += c.num_ack_pending + c.num_pending + (c.delivered.stream_seq < again.seq ? 1 : 0);
      return pending === 0;
    }, 10_000);
    expect(await billed()).toEqual([id]);
    expect(n).toBe(1);
  } finally {
    await r.stop();
    await sub.stop();
  }
});
