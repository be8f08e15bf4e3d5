import { afterEach, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import {
  ConnectionClosedError,
  NoStreamError,
  PublishRejectedError,
  SequenceConflictError,
  openBus,
  type Bus,
  type JetStream,
} from "../src/index.js";
import { bytes, memoryLogger, provisionRaw } from "./helpers.js";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

async function setup(publisher: Parameters<Bus["jetstream"]>[0] = {}): Promise<{ server: NatsServer; bus: Bus; js: JetStream }> {
  const server = await startNatsServer();
  cleanup.push(() => server.stop());
  const bus = await openBus({ servers: server.url, env: {}, logger: memoryLogger(), reconnect: { waitMs: 100, jitterMs: 50 } });
  cleanup.push(() => bus.close());
  const js = await bus.jetstream(publisher);
  await provisionRaw(js, "workflow");
  return { server, bus, js };
}

const messages = async (js: JetStream, stream = "COZE_WORKFLOW"): Promise<number> => (await js.jsm.streams.info(stream)).state.messages;

describe("JetStream publish", () => {
  it("an event above the server's max_payload is refused at once (no resends until the retry deadline), and the publisher carries on", async () => {
    const { js } = await setup();
    const err = await js.publish("coze.workflow.wf_1.big", new Uint8Array(2 * 1024 * 1024), { type: "t" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishRejectedError);
    expect((err as Error).message).toMatch(/max_payload/);
    expect(js.inFlight).toBe(0);
    expect((await js.publish("coze.workflow.wf_1.small", bytes("ok"), { type: "t" })).seq).toBeGreaterThan(0);
  });

  it("resolves with the stream's ack, and the stored message carries the wire contract's headers", async () => {
    const { js } = await setup();
    const ack = await js.publish("coze.workflow.wf1.started", bytes("p"), { type: "coze.workflow.v1.WorkflowExecutionStarted" });
    expect(ack).toMatchObject({ stream: "COZE_WORKFLOW", seq: 1, duplicate: false, subject: "coze.workflow.wf1.started" });
    const stored = await js.jsm.streams.getMessage("COZE_WORKFLOW", { seq: 1 });
    expect(stored?.header.get("Nats-Msg-Id")).toBe(ack.id);
    expect(stored?.header.get("ce-id")).toBe(ack.id);
    expect(stored?.header.get("ce-type")).toBe("coze.workflow.v1.WorkflowExecutionStarted");
  });

  it("two different events for the same entity inside the duplicate window are both stored (each has its own id)", async () => {
    const { js } = await setup();
    const a = await js.publish("coze.workflow.wf1.started", bytes("a"), { type: "t" });
    const b = await js.publish("coze.workflow.wf1.started", bytes("b"), { type: "t" });
    expect(a.id).not.toBe(b.id);
    expect(b.duplicate).toBe(false);
    expect(await messages(js)).toBe(2);
  });

  it("the same event sent twice (same id) is stored once", async () => {
    const { js } = await setup();
    const first = await js.publish("coze.workflow.wf1.started", bytes("a"), { type: "t", id: "evt-1" });
    const again = await js.publish("coze.workflow.wf1.started", bytes("a"), { type: "t", id: "evt-1" });
    expect(again).toMatchObject({ duplicate: true, seq: first.seq });
    expect(await messages(js)).toBe(1);
  });

  it("a subject no stream captures is a NoStreamError, at once", async () => {
    const { js } = await setup();
    const err = await js.publish("coze.unknown.x.y", bytes(""), { type: "t" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoStreamError);
    expect((err as Error).message).toMatch(/no JetStream stream captures "coze\.unknown\.x\.y"/);
  });

  it("expected last subject sequence: optimistic concurrency", async () => {
    const { js } = await setup();
    const s = "coze.workflow.wf9.node_completed";
    const first = await js.publish(s, bytes("1"), { type: "t", expectedLastSubjectSequence: 0 });
    await js.publish(s, bytes("2"), { type: "t", expectedLastSubjectSequence: first.seq });
    const err = await js.publish(s, bytes("3"), { type: "t", expectedLastSubjectSequence: first.seq }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SequenceConflictError);
    expect(await messages(js)).toBe(2);
  });

  it("a full stream (discard new) refuses loudly instead of dropping old events", async () => {
    const { js } = await setup();
    await js.ensureStream(js.domainStream("tiny", ["coze.tiny.>"], { maxMsgs: 3 }));
    for (let i = 0; i < 3; i++) await js.publish(`coze.tiny.t.e${i}`, bytes(""), { type: "t" });
    const err = await js.publish("coze.tiny.t.e4", bytes(""), { type: "t" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishRejectedError);
    expect((err as Error).message).toMatch(/maximum messages exceeded/);
    expect(await messages(js, "COZE_TINY")).toBe(3);
  });

  it("keeps at most maxInFlight publishes awaiting acks (backpressure), and stores all", async () => {
    const { js } = await setup({ maxInFlight: 8 });
    let peak = 0;
    const all = Array.from({ length: 500 }, (_, i) => {
      const p = js.publish(`coze.workflow.wf${i % 5}.started`, bytes(String(i)), { type: "t" });
      peak = Math.max(peak, js.inFlight);
      return p;
    });
    const timer = setInterval(() => (peak = Math.max(peak, js.inFlight)), 1);
    await Promise.all(all);
    clearInterval(timer);
    expect(peak).toBeLessThanOrEqual(8);
    expect(peak).toBeGreaterThan(1);
    expect(await messages(js)).toBe(500);
  });

  it("a batch returns one result per event, in order", async () => {
    const { js } = await setup();
    const results = await js.publishBatch([
      { subject: "coze.workflow.a.started", data: bytes("1"), event: { type: "t" } },
      { subject: "coze.nowhere.b.started", data: bytes("2"), event: { type: "t" } },
      { subject: "coze.workflow.c.started", data: bytes("3"), event: { type: "t" } },
      { subject: "coze.workflow.*.started", data: bytes("4"), event: { type: "t" } },
    ]);
    expect(results.map((r) => r.ok)).toEqual([true, false, true, false]);
    expect(results[1]!.ok ? undefined : results[1]!.error).toBeInstanceOf(NoStreamError);
    expect(await messages(js)).toBe(2);
  });

  it("server restarted twice while publishing: every event stored exactly once", async () => {
    const { server, js } = await setup({ ackTimeoutMs: 500 });
    const n = 3000;
    const pending: Array<Promise<unknown>> = [];
    for (let i = 0; i < n; i++) {
      pending.push(js.publish(`coze.workflow.wf${i % 20}.started`, bytes(String(i)), { type: "t" }));
      if (i === 1000 || i === 2000) {
        await server.restart("SIGKILL");
      } else if (i % 100 === 0) {
        await new Promise((r) => setImmediate(r));
      }
    }
    const results = await Promise.allSettled(pending);
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    expect(await messages(js)).toBe(n);
  });

  it("drain waits for publishes still awaiting their ack: none lost", async () => {
    const { server, bus } = await setup();
    const js = await bus.jetstream();
    const pending = Array.from({ length: 2000 }, (_, i) => js.publish(`coze.workflow.wf${i % 3}.started`, bytes(""), { type: "t" }));
    await bus.drain();
    const results = await Promise.allSettled(pending);
    expect(results.every((r) => r.status === "fulfilled")).toBe(true);
    const check = await openBus({ servers: server.url, env: {}, logger: memoryLogger() });
    try {
      expect(await messages(await check.jetstream())).toBe(2000);
    } finally {
      await check.close();
    }
    await expect(js.publish("coze.workflow.x.started", bytes(""), { type: "t" })).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  it("close() without drain fails unsettled publishes at once, never leaves them hanging", async () => {
    const { server, bus, js } = await setup();
    await server.kill("SIGKILL");
    const pending = js.publish("coze.workflow.x.started", bytes(""), { type: "t" });
    await bus.close();
    await expect(pending).rejects.toBeInstanceOf(ConnectionClosedError);
  });
});
