import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { startNatsServer, startPostgres, waitFor, type NatsServer, type PostgresServer } from "@cozebus/testing";
import { SubjectTemplate } from "@cozebus/core";
import type { OutgoingEvent, Receipt, Transport } from "@cozebus/core/transport";
import { openBus, type Bus, type JetStream } from "@cozebus/nats";
import { PostgresOutbox, migrate, startOutboxRelay, withTransaction, type OutboxRelay } from "../src/index.js";

let db: PostgresServer;
let nats: NatsServer;
let pool: pg.Pool;
let bus: Bus;
let js: JetStream;
let transport: Transport;
const outbox = new PostgresOutbox();
const started = SubjectTemplate.parse("coze.workflow.{workflow_id}.started");
const STREAM = "COZE_WORKFLOW";
const relays: OutboxRelay[] = [];
const enc = new TextEncoder();

function event(workflowId: string, n: number): OutgoingEvent {
  return {
    address: { domain: "workflow", template: started, fields: { workflow_id: workflowId } },
    data: enc.encode(`${workflowId}:${n}`),
    attributes: { type: "coze.workflow.v1.WorkflowExecutionStarted", headers: { "x-n": String(n) } },
    qos: "at-least-once",
  };
}

function relay(options: Partial<Parameters<typeof startOutboxRelay>[0]> = {}): OutboxRelay {
  const r = startOutboxRelay({ pool, transport, pollIntervalMs: 50, ...options });
  relays.push(r);
  return r;
}

/** Every message in the stream, in stream order: ce-id, Nats-Msg-Id, payload. */
async function stored(): Promise<Array<{ id: string; msgId: string; data: string; seq: number }>> {
  const info = await js.jsm.streams.info(STREAM);
  const out = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await js.jsm.streams.getMessage(STREAM, { seq }).catch(() => null);
    if (!m) continue;
    out.push({ id: m.header.get("ce-id"), msgId: m.header.get("Nats-Msg-Id"), data: new TextDecoder().decode(m.data), seq });
  }
  return out;
}

async function resetStream(): Promise<void> {
  await js.jsm.streams.delete(STREAM).catch(() => undefined);
  await js.ensureStream(js.domainStream("workflow", ["coze.workflow.>"]));
}

beforeAll(async () => {
  [db, nats] = await Promise.all([startPostgres(), startNatsServer()]);
  pool = new pg.Pool({ connectionString: db.url, max: 10 });
  pool.on("error", () => undefined); // idle clients see the server stop at the end
  await migrate(pool);
  bus = await openBus({ servers: nats.url, env: {}, logger: { info: () => undefined, warn: () => undefined, error: () => undefined } });
  js = await bus.jetstream();
  transport = bus.transport;
});
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop()));
  await pool.query("truncate cozebus_outbox");
});
afterAll(async () => {
  await bus?.close();
  await pool?.end();
  await Promise.all([db?.stop(), nats?.stop()]);
});

describe("outbox + relay", () => {
  it("committed events are published exactly once, in order per key, with the ce-id fixed at enqueue time as Nats-Msg-Id", async () => {
    await resetStream();
    const ids: string[] = [];
    for (let n = 0; n < 30; n++) {
      await withTransaction(pool, async (tx) => {
        await tx.query("select 1"); // the service's own writes would be here
        ids.push((await outbox.enqueue(tx, event(`wf${n % 3}`, n))).id);
      });
    }
    const published: Receipt[] = [];
    const r = relay({ onPublished: (rc) => published.push(rc) });
    await waitFor("30 events published", async () => (await pool.query("select 1 from cozebus_outbox where sent_at is null")).rowCount === 0);
    await r.stop();
    const msgs = await stored();
    expect(msgs).toHaveLength(30);
    expect(msgs.map((m) => m.id).sort()).toEqual([...ids].sort());
    for (const m of msgs) expect(m.msgId).toBe(m.id);
    expect(published.every((p) => p.duplicate === false)).toBe(true);
    // Per key (workflow), the stream holds the events in the order they were enqueued.
    for (const wf of ["wf0", "wf1", "wf2"]) {
      const ns = msgs.filter((m) => m.data.startsWith(`${wf}:`)).map((m) => Number(m.data.split(":")[1]));
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
    expect(await relay().flush()).toBe(0); // nothing left: not published twice
  });

  it("a rolled-back transaction publishes nothing; enqueue refuses a pool (it would write outside the transaction)", async () => {
    await resetStream();
    await expect(
      withTransaction(pool, async (tx) => {
        await outbox.enqueue(tx, event("wfrb", 1));
        throw new Error("the service's write failed");
      }),
    ).rejects.toThrow("the service's write failed");
    const kept = await withTransaction(pool, (tx) => outbox.enqueue(tx, event("wfrb", 2)));
    await expect(outbox.enqueue(pool as unknown as pg.PoolClient, event("wfrb", 3))).rejects.toThrow(/not the pool/);
    relay();
    await waitFor("the committed event published", async () => (await stored()).length === 1);
    await new Promise((r) => setTimeout(r, 300));
    const msgs = await stored();
    expect(msgs.map((m) => m.id)).toEqual([kept.id]);
    expect((await pool.query("select count(*)::int as n from cozebus_outbox")).rows[0]).toEqual({ n: 1 });
  });

  it("a relay killed between publish and mark: the next relay publishes again with the same ce-id, and JetStream drops the copy", async () => {
    await resetStream();
    const one = await withTransaction(pool, (tx) => outbox.enqueue(tx, event("wfcrash", 1)));
    const script = fileURLToPath(new URL("./fixtures/relay-crash.mjs", import.meta.url));
    const child = spawn(process.execPath, [script, db.url, nats.url], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    const exited = new Promise((r) => child.once("exit", r));
    try {
      await waitFor("the crashing relay to publish", () => out.includes(`published ${one.id}`), 30_000);
    } finally {
      child.kill("SIGKILL");
      await exited;
    }
    expect((await stored()).map((m) => m.id)).toEqual([one.id]);
    expect((await pool.query("select sent_at from cozebus_outbox where event_id = $1", [one.id])).rows[0]).toEqual({ sent_at: null });
    const published: Receipt[] = [];
    const r = relay({ onPublished: (rc) => published.push(rc) });
    await waitFor("the row marked sent", async () => (await pool.query("select 1 from cozebus_outbox where sent_at is not null")).rowCount === 1, 30_000);
    await r.stop();
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ id: one.id, duplicate: true });
    const msgs = await stored();
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toMatchObject({ id: one.id, msgId: one.id });
  });

  it("several relays at once: every row published once, order per key kept", async () => {
    await resetStream();
    const keys = ["a", "b", "c", "d", "e"];
    await withTransaction(pool, (tx) =>
      outbox.enqueueMany(
        tx,
        Array.from({ length: 200 }, (_, n) => event(`wf${keys[n % 5]!}`, n)),
      ),
    );
    const published: Receipt[] = [];
    for (let i = 0; i < 3; i++) relay({ batchSize: 17, onPublished: (rc) => published.push(rc) });
    await waitFor("200 published", async () => (await pool.query("select 1 from cozebus_outbox where sent_at is null")).rowCount === 0, 30_000);
    expect(published).toHaveLength(200);
    expect(published.filter((p) => p.duplicate)).toEqual([]);
    const msgs = await stored();
    expect(msgs).toHaveLength(200);
    for (const k of keys) {
      const ns = msgs.filter((m) => m.data.startsWith(`wf${k}:`)).map((m) => Number(m.data.split(":")[1]));
      expect(ns).toHaveLength(40);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
  });

  it("a deleted stream: rows stay unsent, the relay reports and backs off; once the stream is back they go out", async () => {
    await js.jsm.streams.delete(STREAM).catch(() => undefined);
    await withTransaction(pool, (tx) => outbox.enqueueMany(tx, [event("wfd", 1), event("wfd", 2)]));
    const errors: Error[] = [];
    const r = relay({ onError: (e) => errors.push(e), backoff: { initialMs: 100, maxMs: 200 } });
    await waitFor("a reported failure", () => errors.length > 0);
    expect(errors[0]!.message).toMatch(/was not published .*no JetStream stream captures/);
    // The relay reports, then records the attempt on the row: wait for the record rather than race it.
    const attempts = async (): Promise<Array<{ attempts: number; sent_at: Date | null }>> => (await pool.query<{ attempts: number; sent_at: Date | null }>("select attempts, sent_at from cozebus_outbox order by seq")).rows;
    await waitFor("the failed attempt recorded", async () => ((await attempts())[0]?.attempts ?? 0) >= 1);
    const rows = { rows: await attempts() };
    expect(rows.rows.every((row) => row.sent_at === null)).toBe(true);
    expect(rows.rows[1]!.attempts).toBe(0); // held back behind the first of its key, never tried out of order
    await js.ensureStream(js.domainStream("workflow", ["coze.workflow.>"]));
    await waitFor("both published", async () => (await pool.query("select 1 from cozebus_outbox where sent_at is null")).rowCount === 0, 30_000);
    await r.stop();
    expect((await stored()).map((m) => m.data)).toEqual(["wfd:1", "wfd:2"]);
  });

  it("LISTEN/NOTIFY: a commit wakes an idle relay long before its poll interval", async () => {
    await resetStream();
    const r = relay({ pollIntervalMs: 60_000 });
    await r.flush();
    await new Promise((res) => setTimeout(res, 200)); // the relay is now waiting on its poll timer (60 s) or a NOTIFY
    await withTransaction(pool, (tx) => outbox.enqueue(tx, event("wfn", 1)));
    await waitFor("published on NOTIFY", async () => (await stored()).length === 1, 10_000);
  });
});
