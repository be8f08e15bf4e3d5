import { ROOT_CONTEXT, SpanKind, context, propagation } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPulsar, waitFor, type PulsarBroker } from "@cozebus/testing";
import { DeadLetters, connectPulsar, type DeadLetter, type PulsarTransport } from "@cozebus/pulsar";
import { workflow } from "@cozebus/workflow";
import { ATTR, instrument } from "../src/index.js";
import { attr, idOf, inRootSpan, memoryTracer, parentOf, registerGlobals, traceOf, traceparentOf } from "./helpers.js";

// One broker for this file (~8 s to start).
let broker: PulsarBroker;
let pulsar: PulsarTransport;
let unregister: () => void;
const { provider, exporter } = memoryTracer();
const RETRY = { maxDeliveries: 3, backoff: { initialMs: 100, maxMs: 200, jitter: 0 } };

beforeAll(async () => {
  unregister = registerGlobals();
  broker = await startPulsar();
  pulsar = await connectPulsar({ webServiceUrl: broker.webServiceUrl, env: {}, onError: () => undefined });
}, 180_000);
afterAll(async () => {
  await pulsar?.close();
  await broker?.stop();
  unregister?.();
});

const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
const hops = (kind: string, workflowId: string): ReadableSpan[] =>
  spans()
    .filter((s) => s.name === `${kind} coze.workflow.{workflow_id}.started` && attr(s, ATTR.destinationName) === `coze.workflow.${workflowId}.started`)
    .sort((a, b) => Number(attr(a, ATTR.attempt) ?? 0) - Number(attr(b, ATTR.attempt) ?? 0));

describe("traces through the port on Pulsar", () => {
  it("the same execution: two failures, retries, success; and one to the dead-letter topic; tracestate on the wire", async () => {
    const t = instrument(pulsar, { tracerProvider: provider, metricsServer: false });
    const wf = workflow(t);
    await wf.provision();
    const seen: Array<{ workflowId: string; attempt: number; traceparent: string | undefined; tracestate: string | undefined }> = [];
    const sub = await wf.executionStarted.subscribe(
      (e, ctx) => {
        seen.push({ workflowId: e.workflowId, attempt: ctx.attempt, traceparent: ctx.headers.get("traceparent"), tracestate: ctx.headers.get("tracestate") });
        if (e.workflowId === "wf_dlq" || ctx.attempt < 3) throw new Error("not yet");
      },
      { group: "runner", retry: RETRY },
    );
    // An upstream context with a tracestate, as a gateway in front of the service would hand it on.
    const upstream = propagation.extract(ROOT_CONTEXT, { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate: "vendor=abc" });
    const root = await context.with(upstream, () =>
      inRootSpan(provider, "start", async (r) => {
        await wf.executionStarted.publish({ workflowId: "wf_ok" });
        await wf.executionStarted.publish({ workflowId: "wf_dlq" });
        return r;
      }),
    );
    await waitFor("three deliveries each", () => seen.length === 6, 60_000);
    await waitFor("every span", () => hops("settle", "wf_ok").length === 3 && hops("settle", "wf_dlq").length === 3, 10_000);
    await sub.stop();

    for (const [workflowId, ops] of [
      ["wf_ok", ["nack", "nack", "ack"]],
      ["wf_dlq", ["nack", "nack", "dead_letter"]],
    ] as const) {
      const [send] = hops("send", workflowId);
      expect(send!.kind).toBe(SpanKind.PRODUCER);
      expect(parentOf(send!)).toBe(idOf(root));
      expect(send!.attributes).toMatchObject({ [ATTR.system]: "pulsar", [ATTR.destinationTemplate]: "coze.workflow.{workflow_id}.started" });
      for (const s of seen.filter((x) => x.workflowId === workflowId)) {
        expect(s.traceparent).toBe(traceparentOf(send!));
        expect(s.tracestate, "Pulsar carries tracestate as a property").toBe("vendor=abc");
      }
      const process = hops("process", workflowId);
      expect(process.map((p) => attr(p, ATTR.attempt))).toEqual([1, 2, 3]);
      for (const p of process) {
        expect(parentOf(p)).toBe(idOf(send!));
        expect(traceOf(p)).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
        expect(p.links.map((l) => l.context.spanId)).toEqual([idOf(send!)]);
        expect(p.attributes).toMatchObject({ [ATTR.system]: "pulsar", [ATTR.consumerGroup]: "runner", [ATTR.messageId]: attr(send!, ATTR.messageId) });
      }
      const settle = hops("settle", workflowId);
      expect(settle.map((s) => attr(s, ATTR.operationName))).toEqual(ops);
      settle.forEach((s, i) => expect(parentOf(s)).toBe(idOf(process[i]!)));
    }
    expect(hops("settle", "wf_dlq")[2]!.attributes).toMatchObject({ [ATTR.deadLetterReason]: "max-deliveries", [ATTR.errorType]: "Error" });
    // It is on the dead-letter topic, with the trace context an operator follows back to this trace.
    const dlq = new DeadLetters(pulsar, "workflow");
    let letters: DeadLetter[] = [];
    await waitFor("the dead letter", async () => (letters = await dlq.list()).length > 0, 20_000);
    await dlq.close();
    expect(letters).toHaveLength(1);
    expect(letters[0]!.reason).toBe("max-deliveries");
    expect(letters[0]!.properties["traceparent"]).toBe(traceparentOf(hops("send", "wf_dlq")[0]!));
  });
});
