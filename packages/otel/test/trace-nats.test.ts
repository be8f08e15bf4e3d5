import { SpanKind, SpanStatusCode, context, propagation, ROOT_CONTEXT } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { silentLogger, startNatsServer, waitFor, type NatsServer } from "@cozebus/testing";
import { openBus, type Bus } from "@cozebus/nats";
import { NonRetryableError } from "@cozebus/core";
import type { OutgoingAttributes, OutgoingEvent } from "@cozebus/core/transport";
import { workflow } from "@cozebus/workflow";
import { ATTR, instrument } from "../src/index.js";
import { OrderRecorder, attr, idOf, inRootSpan, memoryTracer, only, parentOf, registerGlobals, traceOf, traceparentOf } from "./helpers.js";

let server: NatsServer;
let bus: Bus;
let unregister: () => void;
const order = new OrderRecorder();
const { provider, exporter } = memoryTracer(order);
const RETRY = { maxDeliveries: 3, backoff: { initialMs: 50, maxMs: 100, jitter: 0 } };

beforeAll(async () => {
  unregister = registerGlobals();
  server = await startNatsServer();
  bus = await openBus({ servers: server.url, env: {}, logger: silentLogger, onError: () => undefined });
  await workflow(bus).provision();
});
afterAll(async () => {
  await bus?.close();
  await server?.stop();
  unregister?.();
});
beforeEach(() => exporter.reset());

const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
/** The spans of one kind (`process`, `settle`) for one workflow's event, by attempt. */
const named = (kind: string, workflowId: string, event = "started"): ReadableSpan[] =>
  spans()
    .filter((s) => s.name === `${kind} coze.workflow.{workflow_id}.${event}` && attr(s, ATTR.destinationName) === `coze.workflow.${workflowId}.${event}`)
    .sort((a, b) => Number(attr(a, ATTR.attempt) ?? 0) - Number(attr(b, ATTR.attempt) ?? 0));

describe("traces through the port on NATS JetStream", () => {
  it("one execution: send -> process that fails twice -> retries -> success (which publishes on), and one that ends in the DLQ, all hops in one trace", async () => {
    const t = instrument(bus, { tracerProvider: provider, metricsServer: false });
    const wf = workflow(t);
    const seen: Array<{ workflowId: string; attempt: number; traceparent: string | undefined }> = [];
    const completed: string[] = [];
    const sub = await wf.executionStarted.subscribe(
      async (e, ctx) => {
        seen.push({ workflowId: e.workflowId, attempt: ctx.attempt, traceparent: ctx.headers.get("traceparent") });
        if (e.workflowId === "wf_dlq") throw new Error("the model is down");
        if (ctx.attempt < 3) throw new Error(`flaky ${ctx.attempt}`);
        await wf.executionCompleted.publish({ workflowId: e.workflowId, outputJson: "{}" }); // joins the trace under the process span
      },
      { group: "runner", retry: RETRY },
    );
    const done = await wf.executionCompleted.subscribe((e) => void completed.push(e.workflowId), { group: "audit" });

    const root = await inRootSpan(provider, "start two executions", async (r) => {
      await wf.executionStarted.publish({ workflowId: "wf_ok", executeId: 1n });
      await wf.executionStarted.publish({ workflowId: "wf_dlq", executeId: 2n });
      return r;
    });
    await waitFor("three tries each, then the follow-up", () => seen.length === 6 && completed.length === 1, 20_000);
    await waitFor(
      "every span ended",
      () => named("process", "wf_ok").length === 3 && named("process", "wf_dlq").length === 3 && named("settle", "wf_ok").length === 3 && named("settle", "wf_dlq").length === 3 && named("process", "wf_ok", "completed").length === 1,
    );
    await sub.stop();
    await done.stop();

    const rootId = root.spanContext().spanId;
    const traceId = root.spanContext().traceId;
    for (const [workflowId, wantOps, last] of [
      ["wf_ok", ["nack", "nack", "ack"], "ack"],
      ["wf_dlq", ["nack", "nack", "dead_letter"], "dead-letter"],
    ] as const) {
      const send = only(spans(), `send ${workflowId}`, (s) => s.name === "send coze.workflow.{workflow_id}.started" && attr(s, ATTR.destinationName) === `coze.workflow.${workflowId}.started`);
      expect(send.kind).toBe(SpanKind.PRODUCER);
      expect(parentOf(send)).toBe(rootId);
      expect(traceOf(send)).toBe(traceId);
      expect(send.attributes).toMatchObject({
        [ATTR.system]: "nats",
        [ATTR.operationName]: "send",
        [ATTR.operationType]: "send",
        [ATTR.destinationTemplate]: "coze.workflow.{workflow_id}.started",
        [ATTR.ceType]: "coze.workflow.v1.WorkflowExecutionStarted",
        [ATTR.qos]: "at-least-once",
      });
      expect(attr(send, ATTR.messageId)).toEqual(expect.any(String));
      expect(attr(send, ATTR.position)).toMatch(/^COZE_WORKFLOW#\d+$/);
      // What went on the wire is the send span's context, on every redelivery.
      for (const s of seen.filter((x) => x.workflowId === workflowId)) expect(s.traceparent).toBe(traceparentOf(send));

      const process = named("process", workflowId);
      expect(process.map((p) => attr(p, ATTR.attempt))).toEqual([1, 2, 3]);
      const settle = named("settle", workflowId);
      expect(settle.map((s) => attr(s, ATTR.operationName))).toEqual(wantOps);
      process.forEach((p, i) => {
        expect(p.kind).toBe(SpanKind.CONSUMER);
        expect(p.name).toBe("process coze.workflow.{workflow_id}.started");
        expect(parentOf(p), "child of the producer's span").toBe(idOf(send));
        expect(traceOf(p)).toBe(traceId);
        expect(p.links.map((l) => l.context.spanId), "and linked to it").toEqual([idOf(send)]);
        expect(p.attributes).toMatchObject({
          [ATTR.system]: "nats",
          [ATTR.operationType]: "process",
          [ATTR.destinationName]: `coze.workflow.${workflowId}.started`,
          [ATTR.destinationTemplate]: "coze.workflow.{workflow_id}.started",
          [ATTR.consumerGroup]: "runner",
          [ATTR.messageId]: attr(send, ATTR.messageId),
          [ATTR.ceId]: attr(send, ATTR.messageId),
          [ATTR.ceType]: "coze.workflow.v1.WorkflowExecutionStarted",
        });
        expect(attr(p, ATTR.position), "the same stored event each time").toBe(attr(process[0]!, ATTR.position));
        const s = settle[i]!;
        expect(parentOf(s), "settle is under its process span").toBe(idOf(p));
        // It spans the transport carrying the outcome out, which starts once the handler (the process span) has returned.
        // (Monotonic times from the test's span processor: the SDK's start times come from Date.now(), at 1 ms resolution.)
        expect(order.started(s), "settle starts as the handler returns, before its process span ends").toBeLessThan(order.ended(p));
        expect(order.ended(s), "and ends once the transport carried the outcome out, after").toBeGreaterThan(order.ended(p));
        expect(attr(s, ATTR.settleConfirmed), "the transport reported it").toBeUndefined();
        expect(s.attributes).toMatchObject({ [ATTR.operationType]: "settle", [ATTR.attempt]: i + 1, [ATTR.consumerGroup]: "runner" });
        const failed = i < 2 || last === "dead-letter";
        expect(p.status.code).toBe(failed ? SpanStatusCode.ERROR : SpanStatusCode.UNSET);
        if (failed) {
          expect(attr(p, ATTR.errorType)).toBe("Error");
          expect(p.events.map((ev) => ev.name)).toContain("exception");
        }
        if (i < 2) expect(s.attributes).toMatchObject({ [ATTR.outcome]: "retry", [ATTR.retryDelay]: expect.any(Number), [ATTR.errorType]: "Error" });
      });
      expect(attr(process[2]!, ATTR.outcome)).toBe(last);
      if (last === "dead-letter") expect(settle[2]!.attributes).toMatchObject({ [ATTR.deadLetterReason]: "max-deliveries", [ATTR.errorType]: "Error" });
    }

    // The success's follow-up event: sent under the third process span, handled under that send.
    const ok = named("process", "wf_ok")[2]!;
    const followSend = only(spans(), "follow-up send", (s) => s.name === "send coze.workflow.{workflow_id}.completed");
    expect(parentOf(followSend)).toBe(idOf(ok));
    const followProcess = only(spans(), "follow-up process", (s) => s.name === "process coze.workflow.{workflow_id}.completed");
    expect(parentOf(followProcess)).toBe(idOf(followSend));
    expect(attr(followProcess, ATTR.consumerGroup)).toBe("audit");
    expect(traceOf(followProcess)).toBe(traceId);

    // The dead letter keeps the trace context: an operator can go from the DLQ entry to the trace.
    const js = await bus.jetstream();
    const dead = (await js.deadLetters.list()).filter((d) => d.eventId === attr(named("process", "wf_dlq")[0]!, ATTR.messageId));
    expect(dead).toHaveLength(1);
    expect(dead[0]!.headers.get("traceparent")).toBe(traceparentOf(only(spans(), "send wf_dlq", (s) => s.name.startsWith("send") && attr(s, ATTR.destinationName) === "coze.workflow.wf_dlq.started")));
  });

  it('consumerParent "none": every delivery starts its own trace, linked to the producer', async () => {
    const t = instrument(bus, { tracerProvider: provider, consumerParent: "none", metricsServer: false });
    const wf = workflow(t);
    let n = 0;
    const sub = await wf.executionCancelled.subscribe(
      () => {
        if (++n === 1) throw new NonRetryableError("no such execution");
      },
      { group: "linker", retry: RETRY },
    );
    await inRootSpan(provider, "cancel", () => wf.executionCancelled.publish({ workflowId: "wf_link" }));
    await waitFor("the process span", () => named("process", "wf_link", "cancelled").length === 1 && named("settle", "wf_link", "cancelled").length === 1);
    await sub.stop();
    const send = only(spans(), "send", (s) => s.name.startsWith("send") && attr(s, ATTR.destinationName) === "coze.workflow.wf_link.cancelled");
    const [p] = named("process", "wf_link", "cancelled");
    expect(parentOf(p!)).toBeUndefined();
    expect(traceOf(p!)).not.toBe(traceOf(send));
    expect(p!.links.map((l) => [l.context.traceId, l.context.spanId])).toEqual([[traceOf(send), idOf(send)]]);
    // A non-retryable failure is dead-lettered at once, with its error's type.
    expect(named("settle", "wf_link", "cancelled")[0]!.attributes).toMatchObject({ [ATTR.operationName]: "dead_letter", [ATTR.deadLetterReason]: "non-retryable", [ATTR.errorType]: "NonRetryableError" });
  });

  it("request/reply: a CLIENT span, and the SERVER span under it", async () => {
    const t = instrument(bus, { tracerProvider: provider, metricsServer: false });
    const wf = workflow(t);
    const svc = await wf.getExecutionStatus.serve(() => ({ nodesCompleted: 7 }));
    const reply = await inRootSpan(provider, "ask", () => wf.getExecutionStatus.request({ workflowId: "wf_rpc", executeId: 1n }));
    expect(reply.nodesCompleted).toBe(7);
    await svc.stop();
    const client = only(spans(), "request", (s) => s.name.startsWith("request "));
    const srv = only(spans(), "serve", (s) => s.name.startsWith("serve "));
    expect(client.kind).toBe(SpanKind.CLIENT);
    expect(srv.kind).toBe(SpanKind.SERVER);
    expect(parentOf(srv)).toBe(idOf(client));
    expect(srv.attributes).toMatchObject({ [ATTR.system]: "nats", [ATTR.operationName]: "serve" });
  });

  it("batches: one send span, a create span per message that the message carries", async () => {
    const t = instrument(bus, { tracerProvider: provider, metricsServer: false });
    const wf = workflow(t);
    const got: Array<string | undefined> = [];
    const sub = await wf.nodeCompleted.subscribe((_e, ctx) => void got.push(ctx.headers.get("traceparent")), { group: "batch" });
    await inRootSpan(provider, "batch", () => wf.nodeCompleted.publishBatch([{ workflowId: "wf_b", nodeId: "a" }, { workflowId: "wf_b", nodeId: "b" }]));
    await waitFor("both", () => got.length === 2);
    await sub.stop();
    const send = only(spans(), "batch send", (s) => s.name === "send coze.workflow.{workflow_id}.node_completed");
    expect(send.kind).toBe(SpanKind.CLIENT);
    expect(attr(send, ATTR.batchCount)).toBe(2);
    const creates = spans().filter((s) => s.name === "create coze.workflow.{workflow_id}.node_completed");
    expect(creates).toHaveLength(2);
    for (const c of creates) expect(parentOf(c)).toBe(idOf(send));
    expect(new Set(got)).toEqual(new Set(creates.map(traceparentOf)));
  });

  it("an explicit traceparent given to publish is the send span's parent; the active tracestate is handed to the transport", async () => {
    // What the decorator hands the transport, seen from under it.
    const handed: OutgoingAttributes[] = [];
    const spy = new Proxy(bus.transport, {
      get(target, key, receiver) {
        if (key === "publish") return (e: OutgoingEvent) => (handed.push(e.attributes), target.publish(e));
        const v: unknown = Reflect.get(target, key, receiver);
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const t = instrument(spy, { tracerProvider: provider, metricsServer: false });
    const wf = workflow(t);
    const headers: Array<[string, string[]]>[] = [];
    const sub = await wf.nodeFailed.subscribe((_e, ctx) => void headers.push(ctx.headers.entries()), { group: "tp" });
    const upstream = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    await wf.nodeFailed.publish({ workflowId: "wf_tp", nodeId: "n" }, { traceparent: upstream });
    await waitFor("delivered", () => headers.length === 1);
    const send = only(spans(), "send", (s) => s.name.startsWith("send") && attr(s, ATTR.destinationName) === "coze.workflow.wf_tp.node_failed");
    expect(traceOf(send)).toBe("0af7651916cd43dd8448eb211c80319c");
    expect(parentOf(send)).toBe("b7ad6b7169203331");
    await waitFor("its process span", () => named("process", "wf_tp", "node_failed").length === 1);
    const [p] = named("process", "wf_tp", "node_failed");
    expect(parentOf(p!)).toBe(idOf(send));

    // With a tracestate in the active context, it is handed to the transport as `attributes.tracestate`.
    const state = propagation.extract(ROOT_CONTEXT, { traceparent: upstream, tracestate: "vendor=abc" });
    await context.with(state, () => wf.nodeFailed.publish({ workflowId: "wf_ts", nodeId: "n" }));
    await waitFor("delivered", () => headers.length === 2);
    await sub.stop();
    const send2 = only(spans(), "send", (s) => s.name.startsWith("send") && attr(s, ATTR.destinationName) === "coze.workflow.wf_ts.node_failed");
    expect(send2.spanContext().traceState?.serialize()).toBe("vendor=abc");
    expect(handed.map((a) => [a.traceparent, a.tracestate])).toEqual([
      [traceparentOf(send), undefined],
      [traceparentOf(send2), "vendor=abc"],
    ]);
    const wire = new Map(headers[1]!.map(([k, v]) => [k.toLowerCase(), v[0]]));
    expect(wire.get("traceparent")).toBe(traceparentOf(send2));
    tracestateOnWire = wire.get("tracestate");
  });

  // Known gap, reported: the NATS transport drops `attributes.tracestate` (packages/nats/src/messaging/headers.ts:
  // EventAttributes has no tracestate and eventHeaders() only writes traceparent). Flip to `it` once it is carried.
  it("NATS carries tracestate on the wire", () => {
    expect(tracestateOnWire).toBe("vendor=abc");
  });
});

let tracestateOnWire: string | undefined;
