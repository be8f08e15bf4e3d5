/** `cozebus bridge coze-studio` against a real nats-server with JetStream, as a user runs it. */
import { openBus, type Bus } from "@cozebus/nats";
import { startNatsServer, silentLogger, type NatsServer } from "@cozebus/testing";
import { KNOWLEDGE, cozeStudio, knowledgeEvents } from "@cozebus/coze-studio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { runCli } from "./run-cli.js";

const BIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));

let server: NatsServer;
let bus: Bus;
let env: Record<string, string>;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: true });
  env = { COZE_MQ_TYPE: "nats", MQ_NAME_SERVER: server.url, NATS_SERVER_URL: server.url, NATS_USE_JETSTREAM: "true" };
  bus = await openBus({ servers: server.url, env: {}, logger: silentLogger, useJetStream: true });
});
afterAll(async () => {
  await bus?.close();
  await server?.stop();
});

describe("cozebus bridge coze-studio", () => {
  it("--once bridges what is there, prints the counts, and a second run resumes with nothing left", async () => {
    const coze = cozeStudio(bus, { mode: "jetstream" });
    const p = await coze.producer(KNOWLEDGE);
    const doc = (id: bigint) => ({ id, knowledgeId: 7n, name: `d${id}`, uri: `tos://b/${id}` });
    for (const id of [1n, 2n, 3n]) await p.send(knowledgeEvents.indexDocument(7n, doc(id)), { shardingKey: "7" });
    await p.send(knowledgeEvents.deleteKnowledgeData(7n, [1n]));
    const first = await runCli(["bridge", "coze-studio", "--once", "--json", "--idle-ms", "1500"], env);
    expect(first.code, first.stderr).toBe(0);
    const s1 = JSON.parse(first.stdout.trim()) as { received: number; bridged: Record<string, number>; skipped: Record<string, number>; group: string };
    expect(s1.group).toBe("cozebus_bridge");
    expect(s1.received).toBe(4);
    expect(s1.bridged).toEqual({ indexDocumentRequested: 3 });
    expect(s1.skipped).toEqual({ "opencoze_knowledge.delete_knowledge_data": 1 });
    const second = await runCli(["bridge", "coze-studio", "--once", "--json", "--idle-ms", "1000"], env);
    expect(second.code, second.stderr).toBe(0);
    expect((JSON.parse(second.stdout.trim()) as { received: number }).received).toBe(0);
  });

  it("runs until SIGTERM, then prints the counts (text)", async () => {
    // Spawned here (not through runCli) to know the child's pid and signal exactly it.
    const child = spawn(process.execPath, [BIN, "bridge", "coze-studio"], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const deadline = Date.now() + 20_000;
    while (!stderr.includes("SIGTERM or Ctrl-C stops it")) {
      if (Date.now() > deadline) throw new Error(`no start line: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const p = await cozeStudio(bus, { mode: "jetstream" }).producer(KNOWLEDGE);
    await p.send(knowledgeEvents.indexDocument(8n, { id: 80n, knowledgeId: 8n, uri: "tos://b/80" }));
    await new Promise((r) => setTimeout(r, 1500));
    child.kill("SIGTERM");
    expect(await exited, stderr).toBe(0);
    expect(stdout).toMatch(/bridged {2}indexDocumentRequested: 1/);
  });

  it("refuses a bad invocation with exit 2", async () => {
    const r = await runCli(["bridge", "nope"], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/usage: cozebus bridge coze-studio/);
  });
});
