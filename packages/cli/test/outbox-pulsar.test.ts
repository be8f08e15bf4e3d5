/** `cozebus outbox relay` with COZE_MQ_TYPE=pulsar: the relay is transport-agnostic (the port's publish), on a real Pulsar standalone and PostgreSQL. */
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectPulsar, type PulsarTransport } from "@cozebus/pulsar";
import { PostgresOutbox, migrate, openDatabase, withTransaction } from "@cozebus/postgres";
import { startPostgres, startPulsar, waitFor, type PostgresServer, type PulsarBroker } from "@cozebus/testing";
import { workflow } from "@cozebus/workflow";
import { runCli } from "./run-cli.js";

let broker: PulsarBroker;
let db: PostgresServer;
let pool: ReturnType<typeof openDatabase>;
let transport: PulsarTransport;

beforeAll(async () => {
  [broker, db] = await Promise.all([startPulsar(), startPostgres()]);
  pool = openDatabase({ url: db.url });
  await migrate(pool);
  transport = await connectPulsar({ env: { PULSAR_WEB_SERVICE_URL: broker.webServiceUrl }, onError: () => undefined });
  await workflow(transport).provision();
}, 180_000);
afterAll(async () => {
  await transport?.close();
  await pool?.end();
  await Promise.all([broker?.stop(), db?.stop()]);
});

it("--once on Pulsar: the group receives each committed event once, with the row's ce-id, and nothing of the rolled-back ones", async () => {
  const wf = workflow(transport);
  const received: string[] = [];
  const sub = await wf.executionStarted.subscribe((_event, ctx) => void received.push(ctx.id), { group: "outbox-pulsar", onError: () => undefined });
  try {
    const outbox = new PostgresOutbox();
    const committed: string[] = [];
    for (let n = 0; n < 6; n++) {
      await withTransaction(pool, async (tx) => {
        const { id } = await outbox.enqueue(tx, wf.executionStarted.prepare({ workflowId: `wfp${n}`, executeId: BigInt(n) }));
        if (n % 3 === 1) throw new Error("rolled back");
        committed.push(id);
      }).catch((err: Error) => {
        if (err.message !== "rolled back") throw err;
      });
    }
    const r = await runCli(["outbox", "relay", "--once", "--json"], {
      COZE_MQ_TYPE: "pulsar",
      MQ_NAME_SERVER: broker.serviceUrl,
      PULSAR_WEB_SERVICE_URL: broker.webServiceUrl,
      NATS_SERVER_URL: undefined,
      DATABASE_URL: db.url,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/to pulsar/);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ published: 4, failed: 0, unsent: 0 });
    await waitFor("the 4 committed events received", () => received.length >= 4, 30_000);
    await new Promise((res) => setTimeout(res, 1000)); // a duplicate would arrive by now
    expect([...received].sort()).toEqual([...committed].sort());
  } finally {
    await sub.stop();
  }
}, 120_000);
