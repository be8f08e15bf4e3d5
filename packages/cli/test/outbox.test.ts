/** `cozebus outbox relay | migrate | status` against a real PostgreSQL and a real nats-server with JetStream, as a user runs it. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SubjectTemplate } from "@cozebus/core";
import type { OutgoingEvent } from "@cozebus/core/transport";
import { openBus, type Bus, type JetStream } from "@cozebus/nats";
import { PostgresOutbox, openDatabase, withTransaction } from "@cozebus/postgres";
import { silentLogger, startNatsServer, startPostgres, type NatsServer, type PostgresServer } from "@cozebus/testing";
import { runCli } from "./run-cli.js";

const BIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));
const STREAM = "COZE_WORKFLOW";
const started = SubjectTemplate.parse("coze.workflow.{workflow_id}.started");
const outbox = new PostgresOutbox();

let db: PostgresServer;
let nats: NatsServer;
let pool: ReturnType<typeof openDatabase>;
let bus: Bus;
let js: JetStream;
let env: Record<string, string>;

function event(workflowId: string, n: number): OutgoingEvent {
  return {
    address: { domain: "workflow", template: started, fields: { workflow_id: workflowId } },
    data: new TextEncoder().encode(`${workflowId}:${n}`),
    attributes: { type: "coze.workflow.v1.WorkflowExecutionStarted" },
    qos: "at-least-once",
  };
}

/** Every message in the stream, in stream order: ce-id, Nats-Msg-Id, payload. */
async function stored(): Promise<Array<{ id: string; msgId: string; data: string }>> {
  const info = await js.jsm.streams.info(STREAM);
  const out = [];
  for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
    const m = await js.jsm.streams.getMessage(STREAM, { seq }).catch(() => null);
    if (m) out.push({ id: m.header.get("ce-id"), msgId: m.header.get("Nats-Msg-Id"), data: new TextDecoder().decode(m.data) });
  }
  return out;
}

async function resetStream(): Promise<void> {
  await js.jsm.streams.delete(STREAM).catch(() => undefined);
  await js.ensureStream(js.domainStream("workflow", ["coze.workflow.>"]));
}

/** Commits `n` events of `wf` in one transaction each, and rolls back `rolledBack` more; returns the committed ids in order. */
async function enqueue(wf: string, n: number, rolledBack: number): Promise<string[]> {
  const ids: string[] = [];
  // Rolled-back transactions interleaved with the committed ones (every other one while any are left).
  const plan = Array.from({ length: n + rolledBack }, (_, i) => !(i % 2 === 1 && i < 2 * rolledBack));
  for (let i = 0; i < plan.length; i++) {
    const commit = plan[i]!;
    await withTransaction(pool, async (tx) => {
      const { id } = await outbox.enqueue(tx, event(wf, i));
      if (!commit) throw new Error("rolled back");
      ids.push(id);
    }).catch((err: Error) => {
      if (err.message !== "rolled back") throw err;
    });
  }
  return ids;
}

beforeAll(async () => {
  [db, nats] = await Promise.all([startPostgres(), startNatsServer({ jetstream: true })]);
  env = { COZE_MQ_TYPE: "nats", NATS_SERVER_URL: nats.url, NATS_USE_JETSTREAM: "true", DATABASE_URL: db.url };
  pool = openDatabase({ url: db.url });
  bus = await openBus({ servers: nats.url, env: {}, logger: silentLogger, useJetStream: true });
  js = await bus.jetstream();
});
afterAll(async () => {
  await bus?.close();
  await pool?.end();
  await Promise.all([db?.stop(), nats?.stop()]);
});

describe("cozebus outbox", () => {
  it("--help; without DATABASE_URL: exit 2 naming the variable; before migrate: exit 2 saying to run cozebus outbox migrate", async () => {
    const help = await runCli(["outbox", "--help"], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: cozebus outbox relay [\s\S]*exit codes: 0 ok, 1 failed/);
    const none = await runCli(["outbox", "relay", "--once"], { ...env, DATABASE_URL: undefined });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/DATABASE_URL \(or --database-url\): is not set/);
    const missing = await runCli(["outbox", "relay", "--once"], env);
    expect(missing.code, missing.stderr).toBe(2);
    expect(missing.stderr).toMatch(/outbox table public\.cozebus_outbox does not exist .*cozebus outbox migrate/);
    const migrated = await runCli(["outbox", "migrate", "--json"], env);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(JSON.parse(migrated.stdout.trim())).toEqual({ migrated: true, dialect: "postgres", unsent: 0, failing: 0, sent: 0 });
    const scheme = await runCli(["outbox", "status"], { ...env, DATABASE_URL: "redis://127.0.0.1:1" });
    expect(scheme.code).toBe(2);
    expect(scheme.stderr).toMatch(/DATABASE_URL \(or --database-url\): is neither a postgres:\/\/ nor a mysql:\/\/ \(mariadb:\/\/\) URL/);
  });

  it("--once: committed rows are stored exactly once with ce-id = Nats-Msg-Id = the row's id, in order; rolled-back ones nowhere; a second run publishes nothing", async () => {
    await resetStream();
    const ids = await enqueue("wfonce", 12, 6);
    expect(ids).toHaveLength(12);
    expect((await pool.query<{ n: number }>("select count(*)::int as n from cozebus_outbox")).rows[0]!.n).toBe(12); // the rolled-back 6 left no row
    const first = await runCli(["outbox", "relay", "--once", "--json", "--batch-size", "5"], env);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout.trim())).toMatchObject({ published: 12, duplicates: 0, failed: 0, unsent: 0 });
    const msgs = await stored();
    expect(msgs.map((m) => m.id)).toEqual(ids); // one key: stream order is commit order
    for (const m of msgs) expect(m.msgId).toBe(m.id);
    expect(msgs.map((m) => m.data)).toEqual(msgs.map((m) => m.data).sort((a, b) => Number(a.split(":")[1]) - Number(b.split(":")[1])));
    const second = await runCli(["outbox", "relay", "--once", "--json"], env);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout.trim())).toMatchObject({ published: 0, unsent: 0 });
    expect(await stored()).toHaveLength(12);
  });

  it("runs until SIGTERM, publishing what commits meanwhile, and prints progress and the counts", async () => {
    await resetStream();
    const child = spawn(process.execPath, [BIN, "outbox", "relay"], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const until = async (what: string, ok: () => boolean | Promise<boolean>): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (!(await ok())) {
        if (Date.now() > deadline) throw new Error(`${what}: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await until("the start line", () => stderr.includes("SIGTERM or Ctrl-C stops it"));
    const ids = [...(await enqueue("wfrun1", 5, 3)), ...(await enqueue("wfrun2", 4, 2))];
    await until("9 events stored", async () => (await stored()).length === 9);
    await until("the progress line", () => /published \d+ \(total 9\)/.test(stderr));
    child.kill("SIGTERM");
    expect(await exited, stderr).toBe(0);
    expect(stdout).toMatch(/^published 9 event\(s\) in \d+ batch\(es\); 0 failed attempt\(s\); 0 row\(s\) unsent\n$/);
    expect((await stored()).map((m) => m.id).sort()).toEqual([...ids].sort());
  });

  it("SIGTERM mid-stream is graceful: the batch in progress is published and marked, so every stored event is marked sent and every unsent row is absent from the stream", async () => {
    await resetStream();
    await pool.query("truncate cozebus_outbox");
    await withTransaction(pool, (tx) => outbox.enqueueMany(tx, Array.from({ length: 4000 }, (_, n) => event(`wfg${n % 7}`, n))));
    const child = spawn(process.execPath, [BIN, "outbox", "relay", "--json", "--batch-size", "200"], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const deadline = Date.now() + 30_000;
    while ((await js.jsm.streams.info(STREAM)).state.messages < 50) {
      if (Date.now() > deadline) throw new Error(`nothing published: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill("SIGTERM");
    expect(await exited, stderr).toBe(0);
    const summary = JSON.parse(stdout.trim()) as { published: number; unsent: number };
    const sentIds = (await pool.query<{ event_id: string }>("select event_id from cozebus_outbox where sent_at is not null")).rows.map((r) => r.event_id);
    const msgs = await stored();
    expect(summary.unsent).toBeGreaterThan(0); // stopped mid-stream, not after the end
    expect(summary.published).toBe(sentIds.length);
    expect(msgs.map((m) => m.id).sort()).toEqual(sentIds.sort()); // nothing published and left unmarked
    expect(summary.unsent + sentIds.length).toBe(4000);
  });

  it("a deleted stream: --once reports, marks nothing sent and exits 1; status shows the failing rows", async () => {
    await js.jsm.streams.delete(STREAM).catch(() => undefined);
    await pool.query("truncate cozebus_outbox");
    await enqueue("wfgone", 2, 0);
    const r = await runCli(["outbox", "relay", "--once"], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not published .*no JetStream stream captures/);
    expect(r.stderr).toMatch(/2 outbox row\(s\) left unsent, 1 failing/); // the second waits behind the first of its key
    const status = await runCli(["outbox", "status", "--json"], env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout.trim())).toMatchObject({ unsent: 2, failing: 1, sent: 0 });
    expect((await pool.query("select 1 from cozebus_outbox where sent_at is not null")).rowCount).toBe(0);
  });
});
