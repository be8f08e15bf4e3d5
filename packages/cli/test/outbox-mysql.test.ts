/** `cozebus outbox` with a mysql:// DATABASE_URL: @cozebus/mysql against a real MariaDB and a real nats-server with JetStream. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SubjectTemplate } from "@cozebus/core";
import type { OutgoingEvent } from "@cozebus/core/transport";
import { openBus, type Bus, type JetStream } from "@cozebus/nats";
import { MysqlOutbox, openDatabase, withTransaction } from "@cozebus/mysql";
import { silentLogger, startMariadb, startNatsServer, type MariadbServer, type NatsServer } from "@cozebus/testing";
import { runCli } from "./run-cli.js";

const STREAM = "COZE_WORKFLOW";
const started = SubjectTemplate.parse("coze.workflow.{workflow_id}.started");
const outbox = new MysqlOutbox();

let db: MariadbServer;
let nats: NatsServer;
let pool: ReturnType<typeof openDatabase>;
let bus: Bus;
let js: JetStream;
let env: Record<string, string>;

const event = (workflowId: string, n: number): OutgoingEvent => ({
  address: { domain: "workflow", template: started, fields: { workflow_id: workflowId } },
  data: new TextEncoder().encode(`${workflowId}:${n}`),
  attributes: { type: "coze.workflow.v1.WorkflowExecutionStarted" },
  qos: "at-least-once",
});

beforeAll(async () => {
  [db, nats] = await Promise.all([startMariadb(), startNatsServer({ jetstream: true })]);
  env = { COZE_MQ_TYPE: "nats", NATS_SERVER_URL: nats.url, NATS_USE_JETSTREAM: "true", DATABASE_URL: db.url };
  pool = openDatabase({ url: db.url });
  bus = await openBus({ servers: nats.url, env: {}, logger: silentLogger, useJetStream: true });
  js = await bus.jetstream();
  await js.ensureStream(js.domainStream("workflow", ["coze.workflow.>"]));
});
afterAll(async () => {
  await bus?.close();
  await pool?.end();
  await Promise.all([db?.stop(), nats?.stop()]);
});

describe("cozebus outbox on MySQL / MariaDB", () => {
  it("before migrate: exit 2 naming cozebus outbox migrate; after: --once stores each committed event once (ce-id = Nats-Msg-Id), nothing of the rolled-back ones, and a second run nothing", async () => {
    const missing = await runCli(["outbox", "relay", "--once"], env);
    expect(missing.code, missing.stderr).toBe(2);
    expect(missing.stderr).toMatch(/outbox table cozebus\.cozebus_outbox does not exist .*cozebus outbox migrate/);
    const migrated = await runCli(["outbox", "migrate", "--json"], { ...env, DATABASE_URL: db.url.replace(/^mysql:/, "mariadb:") });
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(JSON.parse(migrated.stdout.trim())).toEqual({ migrated: true, dialect: "mysql", unsent: 0, failing: 0, sent: 0 });

    const ids: string[] = [];
    for (let i = 0; i < 9; i++) {
      await withTransaction(pool, async (tx) => {
        const { id } = await outbox.enqueue(tx, event("wfmy", i));
        if (i % 3 === 2) throw new Error("rolled back");
        ids.push(id);
      }).catch((err: Error) => {
        if (err.message !== "rolled back") throw err;
      });
    }
    expect(ids).toHaveLength(6);
    const first = await runCli(["outbox", "relay", "--once", "--json", "--batch-size", "4"], env);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout.trim())).toMatchObject({ published: 6, duplicates: 0, failed: 0, unsent: 0 });
    const info = await js.jsm.streams.info(STREAM);
    const stored: Array<{ id: string; msgId: string }> = [];
    for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
      const m = await js.jsm.streams.getMessage(STREAM, { seq });
      if (m) stored.push({ id: m.header.get("ce-id"), msgId: m.header.get("Nats-Msg-Id") });
    }
    expect(stored.map((m) => m.id)).toEqual(ids); // one key: in commit order
    for (const m of stored) expect(m.msgId).toBe(m.id);
    const second = await runCli(["outbox", "relay", "--once", "--json"], env);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout.trim())).toMatchObject({ published: 0, unsent: 0 });
    const status = await runCli(["outbox", "status", "--json"], env);
    expect(JSON.parse(status.stdout.trim())).toEqual({ unsent: 0, failing: 0, sent: 6 });
  });
});
