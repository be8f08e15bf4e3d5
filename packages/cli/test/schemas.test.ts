import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, createFileRegistry, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { silentLogger, startNatsServer, waitFor, type NatsServer } from "@cozebus/testing";
import { openBus, type Bus } from "@cozebus/nats";
import { readFileSync } from "node:fs";
import { SchemaSet } from "../src/schemas.js";
import { runCli } from "./run-cli.js";

const require = createRequire(import.meta.url);
const SCHEMAS = fileURLToPath(new URL("../../../schemas", import.meta.url));

let server: NatsServer;
let bus: Bus;
let dir: string;
let newerSet: string;

/**
 * A schema one event newer than this build: coze.workflow.v1.WorkflowPaused, at most once, on
 * coze.workflow.{workflow_id}.paused. Written with the deprecated delivery option, as schemas
 * were before qos: they must still work.
 */
const PAUSED_PROTO = `syntax = "proto3";
package coze.workflow.v1;
import "coze/eventbus/v1/options.proto";
// A workflow execution was paused (added after the CLI was built).
message WorkflowPaused {
  option (coze.eventbus.v1.event) = {
    subject: "coze.workflow.{workflow_id}.paused"
    delivery: DELIVERY_CORE
  };
  // The workflow.
  string workflow_id = 1;
  // Why it was paused.
  string reason = 2;
  // 64-bit id, as proto3 JSON prints it: a string.
  int64 execute_id = 3;
}
`;

/** Two more newer events, written with qos. */
const QOS_PROTO = `syntax = "proto3";
package coze.workflow.v1;
import "coze/eventbus/v1/options.proto";
// A workflow was nudged (at most once, declared with qos).
message WorkflowNudged {
  option (coze.eventbus.v1.event) = {
    subject: "coze.workflow.{workflow_id}.nudged"
    qos: QUALITY_OF_SERVICE_AT_MOST_ONCE
  };
  // The workflow.
  string workflow_id = 1;
}
// A note was added to a workflow (at least once, declared with qos).
message WorkflowNoted {
  option (coze.eventbus.v1.event) = {
    subject: "coze.workflow.{workflow_id}.noted"
    qos: QUALITY_OF_SERVICE_AT_LEAST_ONCE
  };
  // The workflow.
  string workflow_id = 1;
}
`;

beforeAll(async () => {
  server = await startNatsServer();
  bus = await openBus({ servers: server.url, env: {}, logger: silentLogger });
  dir = mkdtempSync(join(tmpdir(), "cozebus-schemas-"));
  cpSync(SCHEMAS, join(dir, "schemas"), { recursive: true });
  writeFileSync(join(dir, "schemas/coze/workflow/v1/paused.proto"), PAUSED_PROTO);
  writeFileSync(join(dir, "schemas/coze/workflow/v1/qos.proto"), QOS_PROTO);
  newerSet = join(dir, "newer.binpb");
  execFileSync(require.resolve("@bufbuild/buf/bin/buf"), ["build", "--exclude-source-info", "-o", newerSet], { cwd: join(dir, "schemas") });
});
afterAll(async () => {
  await bus?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Bytes of a WorkflowPaused, encoded by reflection from the newer set (this build has no code for it). */
function pausedBytes(): Uint8Array {
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(newerSet)));
  const desc = registry.getMessage("coze.workflow.v1.WorkflowPaused")!;
  return toBinary(desc, create(desc, { workflowId: "wf_9", reason: "waiting for approval", executeId: 12345678901234567n }));
}

describe("--schemas: a descriptor set newer than the CLI", () => {
  it("codegen's committed descriptor set decodes today's events", async () => {
    const sub = runCli(["sub", "workflow.nodeStarted", "--json", "--count", "1", "--schemas", join(SCHEMAS, "cozebus.binpb")], { NATS_SERVER_URL: server.url });
    await waitFor("the subscriber to listen", () => sub.stderrText().includes("listening on"));
    const { workflow } = await import("@cozebus/workflow");
    await workflow(bus).nodeStarted.publish({ workflowId: "wf_1", nodeId: "n1", executeId: 3n });
    const r = await sub;
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { data: unknown }).data).toMatchObject({ workflowId: "wf_1", nodeId: "n1", executeId: "3" });
  });

  it("sub finds an event the build does not know, by name, and decodes it as proto3 JSON", async () => {
    const sub = runCli(["sub", "WorkflowPaused", "--json", "--count", "1", "--schemas", newerSet], { NATS_SERVER_URL: server.url });
    await waitFor("the subscriber to listen", () => sub.stderrText().includes("listening on"));
    expect(sub.stderrText()).toContain("listening on coze.workflow.*.paused");
    bus.publish("coze.workflow.wf_9.paused", pausedBytes(), { type: "coze.workflow.v1.WorkflowPaused" });
    const r = await sub;
    expect(r.code, r.stderr).toBe(0);
    const line = JSON.parse(r.stdout) as { subject: string; type: string; data: unknown };
    expect(line).toMatchObject({ subject: "coze.workflow.wf_9.paused", type: "coze.workflow.v1.WorkflowPaused" });
    expect(line.data).toEqual({ workflowId: "wf_9", reason: "waiting for approval", executeId: "12345678901234567" });
  });

  it("without --schemas the same event is reported as unknown, with the hint, and sub keeps going", async () => {
    const sub = runCli(["sub", "coze.workflow.*.paused", "--json", "--count", "1"], { NATS_SERVER_URL: server.url });
    await waitFor("the subscriber to listen", () => sub.stderrText().includes("listening on"));
    bus.publish("coze.workflow.wf_9.paused", pausedBytes(), { type: "coze.workflow.v1.WorkflowPaused" });
    const r = await sub;
    expect(JSON.parse(r.stdout)).toMatchObject({ error: "unknown event type coze.workflow.v1.WorkflowPaused (a newer schema? pass its descriptor set with --schemas)" });
  });

  it("pub encodes an event only the descriptor set knows; bad fields and subject injections are exit 2, nothing sent", async () => {
    const sub = runCli(["sub", "WorkflowPaused", "--json", "--count", "1", "--schemas", newerSet], { NATS_SERVER_URL: server.url });
    await waitFor("the subscriber to listen", () => sub.stderrText().includes("listening on"));
    const env = { NATS_SERVER_URL: server.url };
    const wrongType = await runCli(["pub", "WorkflowPaused", '{"workflowId":"wf_7","reason":42}', "--schemas", newerSet], env);
    expect(wrongType.code).toBe(2);
    expect(wrongType.stderr).toMatch(/^cozebus: coze\.workflow\.v1\.WorkflowPaused: cannot decode field coze\.workflow\.v1\.WorkflowPaused\.reason from JSON: expected string, got 42\n$/);
    const unknown = await runCli(["pub", "WorkflowPaused", '{"workflowId":"wf_7","colour":"red"}', "--schemas", newerSet], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("colour");
    const injected = await runCli(["pub", "WorkflowPaused", '{"workflowId":"wf.>"}', "--schemas", newerSet], env);
    expect(injected.code).toBe(2);
    expect(injected.stderr).toMatch(/workflow_id/);

    const ok = await runCli(["pub", "WorkflowPaused", '{"workflowId":"wf_7","reason":"approval","executeId":"9007199254740993"}', "--schemas", newerSet, "--json"], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ subject: "coze.workflow.wf_7.paused", qos: "at-most-once" });
    const r = await sub;
    // Only the valid event arrived (the refused ones were never sent), with a 64-bit id beyond 2^53 intact.
    expect((JSON.parse(r.stdout) as { data: unknown }).data).toEqual({ workflowId: "wf_7", reason: "approval", executeId: "9007199254740993" });
  });

  it("reads each event's quality of service: qos, or the deprecated delivery of an older schema", () => {
    const newer = SchemaSet.load(newerSet);
    expect(newer.eventDef("WorkflowPaused")?.qos).toBe("at-most-once"); // delivery: DELIVERY_CORE
    expect(newer.eventDef("WorkflowNudged")?.qos).toBe("at-most-once"); // qos: QUALITY_OF_SERVICE_AT_MOST_ONCE
    expect(newer.eventDef("WorkflowNoted")?.qos).toBe("at-least-once"); // qos: QUALITY_OF_SERVICE_AT_LEAST_ONCE
    // The committed set: this repository's schemas declare qos.
    const committed = SchemaSet.load(join(SCHEMAS, "cozebus.binpb"));
    expect(committed.eventDef("coze.workflow.v1.NodeStarted")?.qos).toBe("at-most-once");
    expect(committed.eventDef("coze.workflow.v1.WorkflowExecutionStarted")?.qos).toBe("at-least-once");
  });

  it("pub sends an event declared with qos at most once over core NATS", async () => {
    const sub = runCli(["sub", "WorkflowNudged", "--json", "--count", "1", "--schemas", newerSet], { NATS_SERVER_URL: server.url });
    await waitFor("the subscriber to listen", () => sub.stderrText().includes("listening on"));
    const ok = await runCli(["pub", "WorkflowNudged", '{"workflowId":"wf_8"}', "--schemas", newerSet, "--json"], { NATS_SERVER_URL: server.url });
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ subject: "coze.workflow.wf_8.nudged", qos: "at-most-once" });
    const r = await sub;
    expect((JSON.parse(r.stdout) as { data: unknown }).data).toEqual({ workflowId: "wf_8" });
  });

  it("a missing or malformed descriptor set is one line on stderr, exit 2, nothing sent", async () => {
    const missing = await runCli(["sub", "WorkflowPaused", "--schemas", join(dir, "nope.binpb")], { NATS_SERVER_URL: server.url });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^cozebus: --schemas .*nope\.binpb: cannot read it \(ENOENT\); npm run codegen writes the descriptor set to schemas\/cozebus\.binpb\n$/);
    writeFileSync(join(dir, "garbage.binpb"), "not a descriptor set at all");
    const garbage = await runCli(["dlq", "show", "1", "--schemas", join(dir, "garbage.binpb")], { NATS_SERVER_URL: server.url });
    expect(garbage.code).toBe(2);
    expect(garbage.stderr).toMatch(/^cozebus: --schemas .*garbage\.binpb: not a complete FileDescriptorSet/);
  });
});
