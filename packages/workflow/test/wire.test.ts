/**
 * Wire compatibility with another Protobuf stack: `buf convert` (Go's
 * protobuf runtime, reading the .proto sources) decodes what the SDK sends
 * to the same message, and what it encodes is received by a typed
 * subscriber. Other languages' Protobuf stacks read and write exactly these
 * bytes. buf comes from npm (@bufbuild/buf), so no protoc is needed.
 */
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import { openBus, type Bus, type InboundMessage } from "@cozebus/nats";
import { NodeType, workflow, type NodeStarted } from "../src/index.js";

const SCHEMAS = resolve(import.meta.dirname, "../../../schemas");
// The package's launcher runs the platform package's binary (@bufbuild/buf-linux-x64 and friends, locked in
// package-lock.json); it needs no install script, which npm 11 does not run unless allowed.
const BUF = createRequire(import.meta.url).resolve("@bufbuild/buf/bin/buf");

/** `buf convert` of one coze.workflow.v1.NodeStarted from one format to another (binpb, json, txtpb). */
function bufConvert(from: "binpb" | "txtpb", to: "binpb" | "json", input: Uint8Array | string): Buffer {
  try {
    return execFileSync(process.execPath, [BUF, "convert", SCHEMAS, "--type", "coze.workflow.v1.NodeStarted", "--from", `-#format=${from}`, "--to", `-#format=${to}`], {
      input,
      stdio: ["pipe", "pipe", "pipe"],
    });
  } catch (err) {
    throw new Error(`buf convert failed: ${(err as { stderr?: Buffer }).stderr?.toString() ?? String(err)}`);
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

describe("wire compatibility with buf convert", () => {
  it("bytes published by the SDK decode with buf convert to the same message", async () => {
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
    // Canonical proto3 JSON: int64 as a string, enums by name, Timestamp as RFC 3339.
    expect(JSON.parse(bufConvert("binpb", "json", raw[0]!.data).toString())).toEqual({
      workflowId: "wf_wire",
      executeId: "-9223372036854775808",
      nodeId: "节点-1",
      nodeType: "NODE_TYPE_KNOWLEDGE",
      startedAt: "2026-11-22T12:34:56.789Z",
    });
    expect(raw[0]!.headers.get("ce-type")).toBe("coze.workflow.v1.NodeStarted");
  });

  it("bytes encoded by buf convert from the text format are received by a typed subscriber", async () => {
    const got: NodeStarted[] = [];
    const sub = await workflow(bus).nodeStarted.subscribe((e) => void got.push(e), { group: "wire" });
    const bytes = bufConvert(
      "txtpb",
      "binpb",
      'workflow_id: "wf_from_buf"\nexecute_id: 18014398509481985\nnode_id: "end"\nnode_type: NODE_TYPE_END\nstarted_at { seconds: 1795350896 nanos: 5 }\n',
    );
    bus.publish("coze.workflow.wf_from_buf.node_started", new Uint8Array(bytes), { type: "coze.workflow.v1.NodeStarted" });
    await waitFor(got, 1);
    expect(got[0]).toEqual({
      workflowId: "wf_from_buf",
      executeId: 18_014_398_509_481_985n,
      nodeId: "end",
      nodeType: NodeType.NODE_TYPE_END,
      startedAt: new Date(1_795_350_896_000),
    });
    await sub.stop();
  });
});
