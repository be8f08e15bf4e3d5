// The MySQL outbox and relay on a real MariaDB (startMariadb) and a real nats-server: the same cases as
// @cozebus/postgres's outbox test.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import mysql from "mysql2/promise";
import { startMariadb, startNatsServer, waitFor, type MariadbServer, type NatsServer } from "@cozebus/testing";
import { SubjectTemplate, isCozebusError } from "@cozebus/core";
import type { OutgoingEvent, Receipt, Transport } from "@cozebus/core/transport";
import { openBus, type Bus, type JetStream } from "@cozebus/nats";
import { MysqlOutbox, migrate, startOutboxRelay, withTransaction, type OutboxRelay } from "../src/index.js";

let db: MariadbServer;
let nats: NatsServer;
let pool: mysql.Pool;
let bus: Bus;
let js: JetStream;
let transport: Transport;
const outbox = new MysqlOutbox();
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

const unsent = async (): Promise<number> => {
  const [rows] = await pool.query<mysql.RowDataPacket[]>("SELECT COUNT(*) AS n FROM cozebus_outbox WHERE sent_at IS NULL");
  return Number(rows[0]!["n"]);
};

/** Every message in the stream, in stream order: ce-id, Nats-Msg-Id, payload, the x-n header. */
async function stored(): Promise<Array<{ id: string; msgId: string; data: string; n: string }>> {
  const info = await js.jsm.streams.info(STREAM);
  const out = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await js.jsm.streams.getMessage(STREAM, { seq }).catch(() => null);
    if (!m) continue;
    out.push({ id: m.header.get("ce-id"), msgId: m.header.get("Nats-Msg-Id"), data: new TextDecoder().decode(m.data), n: m.header.get("x-n") });
  }
  return out;
}

async function resetStream(): Promise<void> {
  await js.jsm.streams.delete(STREAM).catch(() => undefined);
  await js.ensureStream(js.domainStream("workflow", ["coze.workflow.>"]));
}

beforeAll(async () => {
  [db, nats] = await Promise.all([startMariadb(), startNatsServer()]);
  pool = mysql.createPool({ uri: db.url, connectionLimit: 10 });
  await migrate(pool);
  bus = await openBus({ servers: nats.url, env: {}, logger: { info: () => undefined, warn: () => undefined, error: () => undefined } });
  js = await bus.jetstream();
  transport = bus.transport;
});
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop()));
  await pool.query("TRUNCATE cozebus_outbox");
});
afterAll(async () => {
  await bus?.close();
  await pool?.end();
  await Promise.all([db?.stop(), nats?.stop()]);
});

describe("MySQL outbox + relay", () => {
  it("committed events are published exactly once, in order per key, with the ce-id fixed at enqueue time as Nats-Msg-Id; headers and bytes kept", async () => {
    await resetStream();
    const ids: string[] = [];
    for (let n = 0; n < 30; n++) {
      await withTransaction(pool, async (tx) => {
        await tx.query("SELECT 1");
        ids.push((await outbox.enqueue(tx, event(`wf${n % 3}`, n))).id);
      });
    }
    const published: Receipt[] = [];
    const r = relay({ onPublished: (rc) => published.push(rc) });
    await waitFor("30 events published", async () => (await unsent()) === 0);
    await r.stop();
    const msgs = await stored();
    expect(msgs).toHaveLength(30);
    expect(msgs.map((m) => m.id).sort()).toEqual([...ids].sort());
    for (const m of msgs) {
      expect(m.msgId).toBe(m.id);
      expect(m.data.split(":")[1]).toBe(m.n);
    }
    expect(published.every((p) => p.duplicate === false)).toBe(true);
    for (const wf of ["wf0", "wf1", "wf2"]) {
      const ns = msgs.filter((m) => m.data.startsWith(`${wf}:`)).map((m) => Number(m.data.split(":")[1]));
      expect(ns).toHaveLength(10);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
    expect(await relay().flush()).toBe(0);
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
    const refused = await outbox.enqueue(pool as unknown as mysql.PoolConnection, event("wfrb", 3)).catch((e: unknown) => e);
    expect(isCozebusError(refused, "CONFIG_INVALID")).toBe(true);
    expect((refused as Error).message).toMatch(/not the pool/);
    relay();
    await waitFor("the committed event published", async () => (await stored()).length === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect((await stored()).map((m) => m.id)).toEqual([kept.id]);
    const [rows] = await pool.query<mysql.RowDataPacket[]>("SELECT COUNT(*) AS n FROM cozebus_outbox");
    expect(Number(rows[0]!["n"])).toBe(1);
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
    expect(await unsent()).toBe(1);
    const published: Receipt[] = [];
    const r = relay({ onPublished: (rc) => published.push(rc) });
    // The killed relay's connection held the row lock until the server noticed the dead socket: at once for a killed process.
    await waitFor("the row marked sent", async () => (await unsent()) === 0, 30_000);
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
    await waitFor("200 published", async () => (await unsent()) === 0, 30_000);
    expect(published).toHaveLength(200);
    expect(published.filter((p) => p.duplicate)).toEqual([]);
    const msgs = await stored();
    expect(msgs).toHaveLength(200);
    for (const k of keys) {
      const ns = msgs.filter((m) => m.data.startsWith(`wf${k}:`)).map((m) => Number(m.data.split(":")[1]));
      expect(ns).toHaveLength(40);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
    expect(relays.reduce((sum, r) => sum + r.stats.published, 0)).toBe(200);
  });

  it("a deleted stream: rows stay unsent, the relay reports and backs off, never out of order; once the stream is back they go out", async () => {
    await js.jsm.streams.delete(STREAM).catch(() => undefined);
    await withTransaction(pool, (tx) => outbox.enqueueMany(tx, [event("wfd", 1), event("wfd", 2)]));
    const errors: Error[] = [];
    const r = relay({ onError: (e) => errors.push(e), backoff: { initialMs: 100, maxMs: 200 } });
    await waitFor("a reported failure", () => errors.length > 0);
    expect(errors[0]!.message).toMatch(/was not published .*no JetStream stream captures/);
    const attempts = async (): Promise<Array<{ attempts: number; sent: number }>> => {
      const [rows] = await pool.query<mysql.RowDataPacket[]>("SELECT attempts, sent_at IS NOT NULL AS sent FROM cozebus_outbox ORDER BY seq");
      return rows.map((row) => ({ attempts: Number(row["attempts"]), sent: Number(row["sent"]) }));
    };
    await waitFor("the failed attempt recorded", async () => ((await attempts())[0]?.attempts ?? 0) >= 1);
    const now = await attempts();
    expect(now.every((row) => row.sent === 0)).toBe(true);
    expect(now[1]!.attempts).toBe(0); // held back behind the first of its key
    await js.ensureStream(js.domainStream("workflow", ["coze.workflow.>"]));
    await waitFor("both published", async () => (await unsent()) === 0, 30_000);
    await r.stop();
    expect((await stored()).map((m) => m.data)).toEqual(["wfd:1", "wfd:2"]);
  });

  it("a key longer than any index (its SHA-256 is indexed), and deliverAt / ttl survive the row", async () => {
    await resetStream();
    const longKey = "k".repeat(5000);
    const at = new Date(Date.now() + 1);
    await withTransaction(pool, (tx) => outbox.enqueue(tx, { ...event("wflong", 1), ttlMs: 60_000, deliverAt: at }, { key: longKey }));
    const seen: OutgoingEvent[] = [];
    // Records what the relay rebuilt from the row; publishes it without deliverAt and ttl (those need a stream
    // provisioned with schedules and per-message TTL, which is not what this test is about).
    const spy: Transport = Object.assign(Object.create(transport) as Transport, {
      publish: (e: OutgoingEvent) => {
        seen.push(e);
        const { deliverAt: _at, ttlMs: _ttl, ...now } = e;
        return transport.publish(now);
      },
    });
    const r = startOutboxRelay({ pool, transport: spy, pollIntervalMs: 50 });
    relays.push(r);
    await waitFor("published", async () => (await unsent()) === 0, 10_000);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.deliverAt?.getTime()).toBe(at.getTime());
    expect(seen[0]!.ttlMs).toBe(60_000);
    const [rows] = await pool.query<mysql.RowDataPacket[]>("SELECT ordering_key FROM cozebus_outbox");
    expect(rows[0]!["ordering_key"]).toBe(longKey);
  });
});
