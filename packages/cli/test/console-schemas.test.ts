import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, createFileRegistry, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { silentLogger, startNatsServer, waitFor, type NatsServer } from "@cozebus/testing";
import { openBus, type Bus } from "@cozebus/nats";
import { workflow } from "@cozebus/workflow";
import { startConsoleProcess, type ConsoleProcess } from "./console-process.js";

const require = createRequire(import.meta.url);
const SCHEMAS = fileURLToPath(new URL("../../../schemas", import.meta.url));

/** An event newer than this build of the CLI: only the descriptor set given with --schemas knows it. */
const PAUSED_PROTO = `syntax = "proto3";
package coze.workflow.v1;
import "coze/eventbus/v1/options.proto";
// A workflow execution was paused (added after the CLI was built).
message WorkflowPaused {
  option (coze.eventbus.v1.event) = {
    subject: "coze.workflow.{workflow_id}.paused"
    qos: QUALITY_OF_SERVICE_AT_MOST_ONCE
  };
  string workflow_id = 1;
  string reason = 2;
}
`;

let server: NatsServer;
let bus: Bus;
let dir: string;
let newerSet: string;
let c: ConsoleProcess;

beforeAll(async () => {
  server = await startNatsServer();
  bus = await openBus({ servers: server.url, env: {}, logger: silentLogger, onError: () => undefined });
  dir = mkdtempSync(join(tmpdir(), "cozebus-console-"));
  cpSync(SCHEMAS, join(dir, "schemas"), { recursive: true });
  writeFileSync(join(dir, "schemas/coze/workflow/v1/paused.proto"), PAUSED_PROTO);
  newerSet = join(dir, "newer.binpb");
  execFileSync(require.resolve("@bufbuild/buf/bin/buf"), ["build", "--exclude-source-info", "-o", newerSet], { cwd: join(dir, "schemas") });
  c = await startConsoleProcess(["--schemas", newerSet], { NATS_SERVER_URL: server.url, COZEBUS_CONSOLE_TOKEN: "" });
});
afterAll(async () => {
  await c?.stop();
  await bus?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Reads a Server-Sent Events stream until `until` says stop; returns the events seen. */
async function readEvents(res: Response, until: (events: Array<{ event: string; data: unknown }>) => boolean): Promise<Array<{ event: string; data: unknown }>> {
  const events: Array<{ event: string; data: unknown }> = [];
  const reader = res.body!.getReader();
  let buffer = "";
  while (!until(events)) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += Buffer.from(value).toString("utf8");
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (data !== undefined) events.push({ event, data: JSON.parse(data) });
    }
  }
  return events;
}

describe("cozebus console --schemas and undecodable events", () => {
  it("the catalogue shows the events only the descriptor set knows", async () => {
    const html = await (await fetch(`${c.url}/catalog`)).text();
    expect(html).toMatch(/<td><code>coze\.workflow\.v1\.WorkflowPaused<\/code><\/td><td><code>coze\.workflow\.\{workflow_id\}\.paused<\/code><\/td><td>at-most-once<\/td>.*?--schemas only/s);
    expect(html).toMatch(/coze\.workflow\.v1\.NodeFailed<\/code>.*?build \+ --schemas/s);
  });

  it("the tail finds a newer event by name and decodes it with the descriptor set (Server-Sent Events)", async () => {
    const ctrl = new AbortController();
    const res = await fetch(`${c.url}/tail/events?pattern=WorkflowPaused`, { signal: ctrl.signal });
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(newerSet)));
    const desc = registry.getMessage("coze.workflow.v1.WorkflowPaused")!;
    let published = false;
    const events = await readEvents(res, (seen) => {
      if (!published && seen.some((e) => e.event === "ready")) {
        bus.publish("coze.workflow.wf_9.paused", toBinary(desc, create(desc, { workflowId: "wf_9", reason: "approval" })), { type: "coze.workflow.v1.WorkflowPaused" });
        published = true;
      }
      return seen.some((e) => e.event === "message");
    });
    ctrl.abort();
    expect(events[0]).toEqual({ event: "ready", data: { pattern: "coze.workflow.*.paused" } });
    expect(events[1]).toMatchObject({ event: "message", data: { subject: "coze.workflow.wf_9.paused", type: "coze.workflow.v1.WorkflowPaused", data: { workflowId: "wf_9", reason: "approval" } } });
  });

  it("a bad tail pattern is reported on the stream, not a crash", async () => {
    const res = await fetch(`${c.url}/tail/events?pattern=${encodeURIComponent("coze..bad")}`);
    const events = await readEvents(res, (seen) => seen.length > 0);
    expect(events[0]?.event).toBe("failed");
    expect((events[0]?.data as { error: string }).error).toMatch(/coze\.\.bad/);
  });

  it("an undecodable dead letter shows why and its bytes, and can still be replayed", async () => {
    const wf = workflow(bus);
    await wf.provision();
    const sub = await wf.nodeFailed.subscribe(() => undefined, { group: "alerts" });
    const js = await bus.jetstream();
    await js.publish("coze.workflow.wf_bad.node_failed", new Uint8Array([0xff, 0xff, 0xff]), { type: "coze.workflow.v1.NodeFailed" });
    await waitFor("the undecodable event in the DLQ", async () => (await js.deadLetters.count()) === 1);
    const [entry] = await js.deadLetters.list();
    expect(entry!.reason).toBe("undecodable");
    const html = await (await fetch(`${c.url}/dlq/${entry!.seq}`)).text();
    expect(html).toMatch(/<p class="bad" id="decode-error">undecodable coze\.workflow\.v1\.NodeFailed: /);
    expect(html).toContain("<pre class=\"json\">////</pre>"); // the three 0xff bytes, base64
    const list = await (await fetch(`${c.url}/dlq?reason=undecodable`)).text();
    expect(list).toMatch(/1 dead letter\(s\) match/);

    // The same confirm-then-act flow the browser uses, as plain form posts.
    const form = (fields: Record<string, string>): RequestInit => ({ method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields).toString() });
    const confirm = await (await fetch(`${c.url}/dlq/confirm`, form({ do: "replay-selected", seq: String(entry!.seq) }))).text();
    const nonce = /name="nonce" value="([^"]+)"/.exec(confirm)![1]!;
    const replayed = await (await fetch(`${c.url}/dlq/replay`, form({ nonce }))).text();
    expect(replayed).toContain("Replayed 1; already gone 0; failed 0.");
    // Still undecodable, so the group dead-letters it again: a new entry, from the replayed event's new stream sequence.
    await waitFor("the replayed event back in the DLQ", async () => (await js.deadLetters.list()).some((d) => d.seq !== entry!.seq && d.reason === "undecodable"));
    expect(await js.deadLetters.get(entry!.seq)).toBeUndefined();
    await sub.stop();
  });
});
