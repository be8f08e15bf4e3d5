import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger, sleep, startNatsServer, waitFor, type NatsServer } from "@cozebus/testing";
import { RemoteError, RequestTimeoutError, ServiceError, SubjectError, openBus, type Bus } from "@cozebus/nats";
import { ExecutionStatus, NodeType, workflow, type WorkflowExecutionStarted, type WorkflowEvent } from "../src/index.js";

const quiet = silentLogger;
const until = (what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> => waitFor(what, check, ms);

let server: NatsServer;
let bus: Bus;
let wf: ReturnType<typeof workflow>;

beforeAll(async () => {
  server = await startNatsServer();
  bus = await openBus({ servers: server.url, env: {}, logger: quiet, onError: () => undefined });
  wf = workflow(bus);
  await wf.provision();
});
afterAll(async () => {
  await bus?.close();
  await server?.stop();
});

describe("@cozebus/workflow", () => {
  it("publishes a JetStream event from its fields and a typed subscriber receives every field intact", async () => {
    const got: WorkflowExecutionStarted[] = [];
    const sub = await wf.executionStarted.subscribe((e) => void got.push(e), { group: "runner", filter: { workflowId: "wf_1" } });
    const sent = {
      workflowId: "wf_1",
      executeId: 9_223_372_036_854_775_807n,
      version: "v0.0.3",
      spaceId: "space-1",
      trigger: { source: { $case: "userId" as const, value: "user_42" } },
      inputs: { query: '"天气"', empty: "" },
      startedAt: new Date("2026-11-22T10:00:00.123Z"),
    };
    const receipt = await wf.executionStarted.publish(sent);
    await wf.executionStarted.publish({ ...sent, workflowId: "wf_2" }); // filtered out
    expect(receipt).toMatchObject({ subject: "coze.workflow.wf_1.started", qos: "at-least-once" });
    expect(receipt.position).toMatch(/^COZE_WORKFLOW#\d+$/);
    await until("the event", () => got.length === 1);
    await sleep(200);
    expect(got).toEqual([sent]);
    await sub.stop();
  });

  it("core events go over core NATS, partial messages are filled with defaults", async () => {
    const got: Array<{ nodeId: string; nodeType: NodeType; executeId: bigint }> = [];
    const sub = await wf.nodeStarted.subscribe((e, ctx) => {
      expect(ctx.fields).toEqual({ workflow_id: "wf_9" });
      got.push(e);
    }, { group: "ui" });
    const receipt = await wf.nodeStarted.publish({ workflowId: "wf_9", nodeId: "llm_1", nodeType: NodeType.NODE_TYPE_LLM });
    expect(receipt.qos).toBe("at-most-once");
    await until("the node event", () => got.length === 1);
    expect(got[0]).toMatchObject({ nodeId: "llm_1", nodeType: NodeType.NODE_TYPE_LLM, executeId: 0n });
    await sub.stop();
  });

  it("refuses subject injection through a field, before sending", async () => {
    await expect(wf.executionStarted.publish({ workflowId: "a.b" })).rejects.toBeInstanceOf(SubjectError);
    await expect(wf.executionStarted.publish({ workflowId: "" })).rejects.toThrow(/workflow_id/);
    await expect(wf.nodeStarted.publish({ workflowId: ">" })).rejects.toBeInstanceOf(SubjectError);
  });

  it("subscribeAll: one handler for the domain, narrowed on the event type", async () => {
    const seen: string[] = [];
    const sub = await wf.subscribeAll((e: WorkflowEvent) => {
      switch (e.type) {
        case "executionCompleted":
          seen.push(`completed ${e.event.outputJson}`);
          break;
        case "nodeStarted":
          seen.push(`node ${e.event.nodeId}`);
          break;
        default:
          seen.push(e.type);
      }
    }, { group: "audit" });
    await wf.executionCompleted.publish({ workflowId: "wf_all", outputJson: "{}" });
    await wf.nodeStarted.publish({ workflowId: "wf_all", nodeId: "n1" });
    await wf.deleted.publish({ workflowId: "wf_all" });
    // A new group starts at the beginning of the stream, so earlier tests' events come first.
    const wanted = ["completed {}", "node n1", "deleted"];
    await until("the three events", () => wanted.every((w) => seen.includes(w)), 15_000);
    expect(seen).toEqual(expect.arrayContaining(wanted));
    expect(seen.filter((x) => x === "executionStarted").length).toBe(2); // the first test's events, each once
    await sub.stop();
  });

  it("request/reply is typed both ways; a failing service arrives as RemoteError; a slow one times out", async () => {
    const svc = await wf.getExecutionStatus.serve((req) => {
      if (req.executeId === 0n) throw new ServiceError(404, "no such execution");
      if (req.executeId === 7n) return sleep(500).then(() => ({}));
      return { status: ExecutionStatus.EXECUTION_STATUS_RUNNING, nodesCompleted: 3, currentNodeId: "code_2" };
    });
    const reply = await wf.getExecutionStatus.request({ workflowId: "wf_1", executeId: 42n });
    expect(reply).toMatchObject({ status: ExecutionStatus.EXECUTION_STATUS_RUNNING, nodesCompleted: 3, currentNodeId: "code_2" });
    const missing = await wf.getExecutionStatus.request({ workflowId: "wf_1", executeId: 0n }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(RemoteError);
    expect((missing as RemoteError).remoteCode).toBe(404);
    await expect(wf.getExecutionStatus.request({ workflowId: "wf_1", executeId: 7n }, { timeoutMs: 100 })).rejects.toBeInstanceOf(RequestTimeoutError);
    await svc.stop();
  });

  it("after provisioning — also with NATS_USE_JETSTREAM=true, every event in the stream — a request gets its real reply, never a stream ack", async () => {
    const b = await openBus({ servers: server.url, env: { NATS_USE_JETSTREAM: "true", NATS_SUBJECT_PREFIX: "allstream" }, logger: quiet, onError: () => undefined });
    try {
      const all = workflow(b);
      const [stream] = await all.provision();
      const name = stream!.resource.replace(/^stream /, "");
      const info = await (await b.jetstream()).jsm.streams.info(name);
      // Every event subject is captured, no request subject is.
      expect(info.config.subjects).toContain("allstream.workflow.*.node_started");
      expect(info.config.subjects.some((x) => x.endsWith(".get_status") || x.endsWith(".cancel") || x.endsWith(">"))).toBe(false);
      const svc = await all.getExecutionStatus.serve(() => ({ status: ExecutionStatus.EXECUTION_STATUS_SUCCEEDED, nodesCompleted: 9 }));
      const reply = await all.getExecutionStatus.request({ workflowId: "wf_rr", executeId: 1n });
      expect(reply).toMatchObject({ status: ExecutionStatus.EXECUTION_STATUS_SUCCEEDED, nodesCompleted: 9 });
      expect((await (await b.jetstream()).jsm.streams.info(name)).state.messages).toBe(0); // the request was not stored
      await svc.stop();
    } finally {
      await b.close();
    }
  });

  it("undecodable bytes on a core event subject go to the error hook, never to the handler", async () => {
    const errors: Error[] = [];
    const b = await openBus({ servers: server.url, env: {}, logger: quiet, onError: (e) => void errors.push(e) });
    try {
      let calls = 0;
      const sub = await workflow(b).nodeStarted.subscribe(() => void calls++, { group: "ui-hook" });
      b.publish("coze.workflow.wf_bad.node_started", new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff]), { type: "coze.workflow.v1.NodeStarted" });
      await until("the reported error", () => errors.length === 1);
      expect(calls).toBe(0);
      expect(errors[0]!.message).toMatch(/cannot decode the event on "coze\.workflow\.wf_bad\.node_started": coze\.workflow\.v1\.NodeStarted/);
      await sub.stop();
    } finally {
      await b.close();
    }
  });

  it("undecodable bytes on an event subject are dead-lettered, never handed to the handler", async () => {
    let calls = 0;
    const sub = await wf.executionFailed.subscribe(() => void calls++, { group: "alerts" });
    const js = await bus.jetstream();
    await js.publish("coze.workflow.wf_bad.failed", new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff]), { type: "coze.workflow.v1.WorkflowExecutionFailed" });
    await until("the dead letter", async () => (await js.deadLetters.list()).some((d) => d.subject === "coze.workflow.wf_bad.failed"));
    const dl = (await js.deadLetters.list()).find((d) => d.subject === "coze.workflow.wf_bad.failed");
    expect(dl?.reason).toBe("undecodable");
    expect(calls).toBe(0);
    await sub.stop();
  });
  // Last on purpose: a new group replays the stream, and earlier tests count what they replay.
  it("every event of the domain arrives with all fields intact", async () => {
    const got = new Map<string, unknown>();
    const at = new Date("2026-11-22T11:00:00.500Z");
    const usage = { inputTokens: 100n, outputTokens: 200n };
    const samples = {
      executionStarted: { workflowId: "all_1", executeId: 1n, version: "", spaceId: "s", trigger: { source: { $case: "scheduleId" as const, value: "cron-1" } }, inputs: {}, startedAt: at },
      nodeStarted: { workflowId: "all_1", executeId: 1n, nodeId: "start", nodeType: NodeType.NODE_TYPE_START, startedAt: at },
      nodeCompleted: { workflowId: "all_1", executeId: 1n, nodeId: "llm", nodeType: NodeType.NODE_TYPE_LLM, outputJson: '{"a":1}', usage, durationMs: 12n },
      nodeFailed: { workflowId: "all_1", executeId: 1n, nodeId: "code", nodeType: NodeType.NODE_TYPE_CODE, errorCode: 500, errorMessage: "boom", willRetry: true },
      executionInterrupted: { workflowId: "all_1", executeId: 1n, nodeId: "q", eventId: 9n, prompt: "which city?" },
      executionResumed: { workflowId: "all_1", executeId: 1n, eventId: 9n, resumeData: "Paris" },
      executionCompleted: { workflowId: "all_1", executeId: 1n, outputJson: "{}", usage, completedAt: at },
      executionFailed: { workflowId: "all_1", executeId: 2n, failedNodeId: "code", errorCode: 1, errorMessage: "x" },
      executionCancelled: { workflowId: "all_1", executeId: 3n, cancelledBy: "u", reason: "user stop" },
      created: { workflowId: "all_1", spaceId: "s", name: "工作流", description: "", creatorId: "u", createdAt: at },
      updated: { workflowId: "all_1", spaceId: "s", name: "n", description: "d", editorId: "u", updatedAt: at },
      published: { workflowId: "all_1", spaceId: "s", version: "v0.0.1", description: "first", publisherId: "u", publishedAt: at },
      deleted: { workflowId: "all_1", spaceId: "s", operatorId: "u", deletedAt: at },
    };
    const sub = await wf.subscribeAll((e: WorkflowEvent) => {
      if (e.ctx.fields["workflow_id"] === "all_1") got.set(e.type, e.event);
    }, { group: "every-event" });
    for (const [name, sample] of Object.entries(samples)) {
      await (wf[name as keyof typeof samples].publish as (m: unknown) => Promise<unknown>)(sample);
    }
    await until("all thirteen events", () => got.size === 13, 15_000);
    for (const [name, sample] of Object.entries(samples)) expect(got.get(name), name).toEqual(sample);
    await sub.stop();
  });

});
