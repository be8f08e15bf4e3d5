/**
 * Wire compatibility with protoc (Debian's protobuf-compiler): what the SDK
 * sends decodes with `protoc --decode` to the same message, and what
 * `protoc --encode` produces is received by a typed subscriber. Other
 * languages' Protobuf stacks read and write exactly these bytes.
 */
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import { openBus, type Bus, type InboundMessage } from "@cozebus/nats";
import { NodeType, workflow, type NodeStarted } from "../src/index.js";

const SCHEMAS = resolve(import.meta.dirname, "../../../schemas");
const PROTO = "coze/workflow/v1/workflow.proto";

function protoc(args: string[], input: Uint8Array | string): Buffer {
  try {
    return execFileSync("protoc", ["-I", SCHEMAS, "-I", "/usr/include", ...args, PROTO], { input, stdio: ["pipe", "pipe", "pipe"] });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new Error('protoc not found: install it (Debian/Ubuntu: "apt-get install protobuf-compiler"); .ci/run does');
    throw new Error(`protoc failed: ${(err as { stderr?: Buffer }).stderr?.toString() ?? String(err)}`);
  }
}

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
let server: NatsServer;
let bus: Bus;

beforeAll(async () => {
  server = await startNatsServer();
  bus = await openBus({ servers: server.url, env: {}, logger: quiet, onError: () => undefined });
});
afterAll(async () => {
  await bus?.close();
  await server?.stop();
});

async function waitFor<T>(box: T[], n: number): Promise<void> {
  for (let i = 0; i < 500 && box.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  if (box.length < n) throw new Error("timed out waiting for the message");
}

describe("wire compatibility with protoc", () => {
  it("bytes published by the SDK decode with protoc --decode to the same message", async () => {
    const raw: InboundMessage[] = [];
    await bus.subscribe("coze.workflow.*.node_started", (m) => void raw.push(m));
    await workflow(bus).nodeStarted.publish({
      workflowId: "wf_wire",
      executeId: -9_223_372_036_854_775_808n,
      nodeId: "节点-1",
      nodeType: NodeType.NODE_TYPE_KNOWLEDGE,
      startedAt: new Date("2026-11-22T12:34:56.789Z"),
    });
    await waitFor(raw, 1);
    const text = protoc(["--decode=coze.workflow.v1.NodeStarted"], raw[0]!.data).toString();
    expect(text).toContain('workflow_id: "wf_wire"');
    expect(text).toContain("execute_id: -9223372036854775808");
    expect(text).toContain('node_id: "\\350\\212\\202\\347\\202\\271-1"'); // protoc prints UTF-8 as octal escapes
    expect(text).toContain("node_type: NODE_TYPE_KNOWLEDGE");
    expect(text).toMatch(/started_at \{\n\s+seconds: 1795350896\n\s+nanos: 789000000\n\}/);
    expect(raw[0]!.headers.get("ce-type")).toBe("coze.workflow.v1.NodeStarted");
  });

  it("bytes encoded by protoc --encode are received by a typed subscriber", async () => {
    const got: NodeStarted[] = [];
    const sub = await workflow(bus).nodeStarted.subscribe((e) => void got.push(e), { group: "wire" });
    const bytes = protoc(
      ["--encode=coze.workflow.v1.NodeStarted"],
      'workflow_id: "wf_from_protoc"\nexecute_id: 18014398509481985\nnode_id: "end"\nnode_type: NODE_TYPE_END\nstarted_at { seconds: 1795350896 nanos: 5 }\n',
    );
    bus.publish("coze.workflow.wf_from_protoc.node_started", new Uint8Array(bytes), { type: "coze.workflow.v1.NodeStarted" });
    await waitFor(got, 1);
    expect(got[0]).toEqual({
      workflowId: "wf_from_protoc",
      executeId: 18_014_398_509_481_985n,
      nodeId: "end",
      nodeType: NodeType.NODE_TYPE_END,
      startedAt: new Date(1_795_350_896_000),
    });
    await sub.stop();
  });
});
