// @cozebus/postgres/kysely on a real PostgreSQL through Kysely's PostgresDialect with pg, and a real nats-server.
// Imports the package by name, as the example does: it runs the built package (dist).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { sql, type Kysely } from "kysely";
import { startNatsServer, startPostgres, waitFor, type NatsServer, type PostgresServer } from "@cozebus/testing";
import { isCozebusError } from "@cozebus/core";
import { guard } from "@cozebus/core/inbox";
import { openBus, type Bus } from "@cozebus/nats";
import { workflow } from "@cozebus/workflow";
import { KyselyInboxStore, KyselyOutbox } from "@cozebus/postgres/kysely";
import { bill, database, relay, setup, startRun, type Database } from "../examples/kysely.js";

let pgServer: PostgresServer;
let nats: NatsServer;
let pool: pg.Pool;
let db: Kysely<Database>;
let bus: Bus;

beforeAll(async () => {
  [pgServer, nats] = await Promise.all([startPostgres(), startNatsServer()]);
  pool = new pg.Pool({ connectionString: pgServer.url, max: 8 });
  pool.on("error", () => undefined); // idle clients see the server stop at the end
  db = database(pool);
  await setup(pool, db);
  bus = await openBus({ servers: nats.url, env: {}, logger: { info: () => undefined, warn: () => undefined, error: () => undefined }, onError: () => undefined });
  await workflow(bus).provision({ limits: { duplicateWindowMs: 1000 } });
});
afterAll(async () => {
  await bus?.close();
  await db?.destroy(); // ends the pool too
  await Promise.all([pgServer?.stop(), nats?.stop()]);
});

const count = async (table: string): Promise<number> => (await pool.query<{ n: number }>(`select count(*)::int as n from ${table}`)).rows[0]!.n;

describe("@cozebus/postgres/kysely", () => {
  it("the example: the run and its event commit in one Kysely transaction, the relay publishes it, a copy past the duplicate window bills once", async () => {
    const transport = bus.transport;
    const id = await startRun(db, new KyselyOutbox(), transport, "wf_k1");
    expect((await pool.query("select status from runs where workflow_id = 'wf_k1'")).rows).toEqual([{ status: "started" }]);
    let billed = 0;
    const sub = await bill(db, transport, () => billed++);
    const r = relay(pool, transport);
    try {
      await waitFor("the event billed", async () => (await count("billing")) === 1, 10_000);
      const js = await bus.jetstream();
      expect((await js.jsm.streams.getMessage("COZE_WORKFLOW", { last_by_subj: "coze.workflow.wf_k1.started" }))?.header.get("Nats-Msg-Id")).toBe(id);
      await new Promise((res) => setTimeout(res, 1200)); // past the 1 s duplicate window: JetStream stores the copy
      const data = (await pool.query<{ data: Buffer }>("select data from cozebus_outbox where event_id = $1", [id])).rows[0]!.data;
      const again = await js.publish("coze.workflow.wf_k1.started", data, { type: "coze.workflow.v1.WorkflowExecutionStarted", id });
      expect(again.duplicate).toBe(false);
      await waitFor("the copy settled", async () => {
        let n = 0;
        for await (const c of js.jsm.consumers.list("COZE_WORKFLOW")) if (c.name.startsWith("billing")) n += c.num_ack_pending + c.num_pending + (c.delivered.stream_seq < again.seq ? 1 : 0);
        return n === 0;
      }, 10_000);
      expect((await pool.query("select event_id from billing")).rows).toEqual([{ event_id: id }]);
      expect(billed).toBe(1);
    } finally {
      await r.stop();
      await sub.stop();
    }
  });

  it("a rolled-back Kysely transaction leaves neither the write nor the event; the Kysely instance itself is refused", async () => {
    const outbox = new KyselyOutbox();
    const wf = workflow(bus.transport);
    const before = await count("cozebus_outbox");
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.insertInto("runs").values({ workflow_id: "wf_rb", status: "started" }).execute();
        await outbox.enqueue(trx, wf.executionStarted.prepare({ workflowId: "wf_rb", executeId: 1n, startedAt: new Date() }));
        throw new Error("the service's next write failed");
      }),
    ).rejects.toThrow("the service's next write failed");
    expect(await count("cozebus_outbox")).toBe(before);
    expect((await pool.query("select 1 from runs where workflow_id = 'wf_rb'")).rowCount).toBe(0);
    const refused = await outbox.enqueue(db as unknown as Parameters<typeof outbox.enqueue>[0], wf.executionStarted.prepare({ workflowId: "wf_x", executeId: 1n, startedAt: new Date() })).catch((e: unknown) => e);
    expect(isCozebusError(refused, "CONFIG_INVALID")).toBe(true);
    expect((refused as Error).message).toMatch(/not the Kysely instance/);
    expect(await count("cozebus_outbox")).toBe(before);
    // Several in one statement, in this order, each with its own key.
    const many = await db.transaction().execute((trx) =>
      outbox.enqueueMany(trx, [1, 2, 3].map((n) => wf.executionStarted.prepare({ workflowId: `wf_m${n}`, executeId: BigInt(n), startedAt: new Date() })), ["k", "k", "k"]),
    );
    expect(many.map((m) => BigInt(m.seq))).toEqual([...many.map((m) => BigInt(m.seq))].sort((a, b) => (a < b ? -1 : 1)));
    expect((await pool.query("select ordering_key from cozebus_outbox where event_id = any($1)", [many.map((m) => m.id)])).rows).toEqual([{ ordering_key: "k" }, { ordering_key: "k" }, { ordering_key: "k" }]);
  });

  it("the inbox on Kysely: claim/busy/done across two stores, and two transactions marking the same id: one commits, the other gets AlreadyHandledError and rolls back", async () => {
    const a = new KyselyInboxStore(db);
    const b = new KyselyInboxStore(db);
    const times = { leaseMs: 5_000, retentionMs: 60_000 };
    const eventId = `k-${Date.now()}`;
    const first = await a.claim({ group: "kg", eventId }, times);
    expect(first.state).toBe("claimed");
    const second = await b.claim({ group: "kg", eventId }, times);
    expect(second.state).toBe("busy");
    if (first.state !== "claimed") throw new Error("unreachable");
    expect(await a.extend(first.claim)).toEqual(first.claim);
    await a.complete(first.claim);
    expect((await b.claim({ group: "kg", eventId }, times)).state).toBe("done");
    expect(await a.isDone({ group: "kg", eventId })).toBe(true);

    await sql`CREATE TABLE IF NOT EXISTS kwrites (event_id text NOT NULL, by text NOT NULL)`.execute(db);
    const key = { group: "kg2", eventId: `k2-${Date.now()}`, retentionMs: 60_000 };
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    // a marks first and holds its transaction open; b's mark waits for a's row lock, then sees it done.
    const ta = a.transaction(key, async (trx) => {
      await sql`INSERT INTO kwrites VALUES (${key.eventId}, 'a')`.execute(trx);
      await held;
    });
    await new Promise((r) => setTimeout(r, 200));
    const tb = b.transaction(key, async (trx) => {
      await sql`INSERT INTO kwrites VALUES (${key.eventId}, 'b')`.execute(trx);
    }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 200));
    release();
    await ta;
    const err = await tb;
    expect(isCozebusError(err, "ALREADY_HANDLED")).toBe(true);
    expect((await pool.query("select by from kwrites where event_id = $1", [key.eventId])).rows).toEqual([{ by: "a" }]);

    // Through guard: the handler's transaction finds the mark and is acked without writing.
    const outcome = await guard(b, { group: "kg2", eventId: key.eventId, ...times, duplicateWindowMs: 100 }, (claim) => b.transaction(claim, () => Promise.resolve({ type: "ack" } as const)));
    expect(outcome).toEqual({ type: "ack" });
  });
});
