import { afterEach, describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import {
  DecodeError,
  NonRetryableError,
  RetryableError,
  openBus,
  type Bus,
  type ConsumerStatus,
  type DeliveredMessage,
  type JetStream,
} from "../src/index.js";
import { bytes, memoryLogger, provisionRaw, sleep, text, waitFor } from "./helpers.js";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

async function setup(): Promise<{ server: NatsServer; bus: Bus; js: JetStream; errors: Error[] }> {
  const server = await startNatsServer();
  cleanup.push(() => server.stop());
  const errors: Error[] = [];
  const bus = await openBus({ servers: server.url, env: {}, logger: memoryLogger(), onError: (e) => void errors.push(e), reconnect: { waitMs: 100, jitterMs: 50 } });
  cleanup.push(() => bus.close());
  const js = await bus.jetstream();
  await provisionRaw(js, "workflow");
  return { server, bus, js, errors };
}

async function extraBus(server: NatsServer): Promise<JetStream> {
  const b = await openBus({ servers: server.url, env: {}, logger: memoryLogger(), onError: () => undefined });
  cleanup.push(() => b.close());
  return b.jetstream();
}

const STREAM = "COZE_WORKFLOW";
const fast = { backoff: { initialMs: 50, maxMs: 200, jitter: 0 } };

describe("JetStream consume: outcomes", () => {
  it("acks on return; the handler sees the event, its id and where it came from", async () => {
    const { js } = await setup();
    const sent = await js.publish("coze.workflow.wf1.started", bytes("hello"), { type: "coze.workflow.v1.WorkflowExecutionStarted" });
    const got: DeliveredMessage[] = [];
    const c = await js.consume({ stream: STREAM, group: "runner" }, (m) => void got.push(m));
    await waitFor("delivery", () => c.stats.acked === 1);
    const m = got[0]!;
    expect(text(m.data)).toBe("hello");
    expect(m.event?.id).toBe(sent.id);
    expect(m.delivery).toMatchObject({ attempt: 1, stream: STREAM, sequence: sent.seq, consumer: "runner" });
    // The server applies acks asynchronously: poll briefly for the settled state.
    let info = await js.jsm.consumers.info(STREAM, "runner");
    for (let i = 0; i < 50 && info.num_ack_pending !== 0; i++) {
      await sleep(20);
      info = await js.jsm.consumers.info(STREAM, "runner");
    }
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
  });

  it("two different events for the same entity inside the duplicate window are both delivered", async () => {
    const { js } = await setup();
    const got: string[] = [];
    const c = await js.consume({ stream: STREAM, group: "g" }, (m) => void got.push(text(m.data)));
    await js.publish("coze.workflow.wf1.node_completed", bytes("node-a"), { type: "t" });
    await js.publish("coze.workflow.wf1.node_completed", bytes("node-b"), { type: "t" });
    await waitFor("both events", () => c.stats.acked === 2);
    expect(got).toEqual(["node-a", "node-b"]);
  });

  it("a retryable failure is redelivered after the backoff: the measured gap is at least the delay", async () => {
    const { js } = await setup();
    await js.publish("coze.workflow.wf1.started", bytes(""), { type: "t" });
    const at: number[] = [];
    const c = await js.consume(
      { stream: STREAM, group: "g" },
      () => {
        at.push(performance.now());
        if (at.length < 3) throw new Error("transient");
      },
      { retry: { backoff: { initialMs: 300, multiplier: 2, maxMs: 5000, jitter: 0 } } },
    );
    await waitFor("three attempts", () => c.stats.acked === 1, 10_000);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(300);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(600);
    expect(c.stats.retried).toBe(2);
  });

  it("RetryableError(delayMs) overrides the backoff for that attempt", async () => {
    const { js } = await setup();
    await js.publish("coze.workflow.wf1.started", bytes(""), { type: "t" });
    const at: number[] = [];
    const c = await js.consume({ stream: STREAM, group: "g" }, () => {
      at.push(performance.now());
      if (at.length === 1) throw new RetryableError("rate limited", 400);
    }, { retry: fast });
    await waitFor("the retry", () => c.stats.acked === 1, 10_000);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(400);
  });

  it("NonRetryableError: dead letter at once with original bytes, headers and origin, then never again", async () => {
    const { js, errors } = await setup();
    const sent = await js.publish("coze.workflow.wf7.node_failed", bytes("bad payload"), { type: "coze.workflow.v1.NodeFailed", headers: { "x-tenant": "t9" } });
    let calls = 0;
    const c = await js.consume({ stream: STREAM, group: "g" }, () => {
      calls++;
      throw new NonRetryableError("node id unknown");
    });
    await waitFor("the dead letter", () => c.stats.deadLettered === 1);
    await sleep(300);
    expect(calls).toBe(1);
    const [dl] = await js.deadLetters.list();
    expect(dl).toMatchObject({
      subject: "coze.workflow.wf7.node_failed",
      stream: STREAM,
      sequence: sent.seq,
      consumer: "g",
      deliveries: 1,
      reason: "non-retryable",
      error: "node id unknown",
      eventId: sent.id,
      eventType: "coze.workflow.v1.NodeFailed",
    });
    expect(text(dl!.data)).toBe("bad payload");
    expect(dl!.headers.get("x-tenant")).toBe("t9");
    expect(dl!.time.getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(errors.some((e) => e.message.includes("node id unknown"))).toBe(true);
  });

  it("an undecodable payload (DecodeError) is dead-lettered as such, never retried", async () => {
    const { js } = await setup();
    await js.publish("coze.workflow.wf1.started", new Uint8Array([0xff, 0xff, 0xff]), { type: "t" });
    let calls = 0;
    const c = await js.consume({ stream: STREAM, group: "g" }, (m) => {
      calls++;
      throw new DecodeError(m.subject, "invalid wire type 7");
    });
    await waitFor("the dead letter", () => c.stats.deadLettered === 1);
    expect(calls).toBe(1);
    expect((await js.deadLetters.list())[0]).toMatchObject({ reason: "undecodable", deliveries: 1 });
  });

  it("a poison message ends in the DLQ after maxDeliveries, instead of looping", async () => {
    const { js } = await setup();
    await js.publish("coze.workflow.wf1.started", bytes("poison"), { type: "t" });
    await js.publish("coze.workflow.wf2.started", bytes("fine"), { type: "t" });
    let poisonCalls = 0;
    const c = await js.consume({ stream: STREAM, group: "g" }, (m) => {
      if (text(m.data) === "poison") {
        poisonCalls++;
        throw new Error("always fails");
      }
    }, { retry: { ...fast, maxDeliveries: 3 } });
    await waitFor("the dead letter", () => c.stats.deadLettered === 1, 10_000);
    await sleep(500);
    expect(poisonCalls).toBe(3);
    expect(c.stats.acked).toBe(1);
    expect((await js.deadLetters.list())[0]).toMatchObject({ reason: "max-deliveries", deliveries: 3, error: "always fails" });
    expect((await js.jsm.consumers.info(STREAM, "g")).num_ack_pending).toBe(0);
  });

  it("a handler that takes 3x the ack wait runs exactly once", async () => {
    const { js } = await setup();
    await js.publish("coze.workflow.wf1.started", bytes(""), { type: "t" });
    let calls = 0;
    const c = await js.consume({ stream: STREAM, group: "g" }, async () => {
      calls++;
      await sleep(1500);
    }, { retry: { ackWaitMs: 500 } });
    await waitFor("the ack", () => c.stats.acked === 1, 10_000);
    await sleep(1000); // longer than the ack wait: a lost ack would show up as a second call
    expect(calls).toBe(1);
  });

  it("a message whose handler never returned is dead-lettered from the max-deliveries advisory", async () => {
    const { js, bus } = await setup();
    // The group exists with 2 deliveries and a short ack wait; a "crashing" worker takes messages and never acks.
    await js.jsm.consumers.add(STREAM, { durable_name: "crashy", ack_policy: "explicit", ack_wait: 300 * 1e6, max_deliver: 2 });
    const stop = js.watchAbandoned(STREAM, "crashy");
    cleanup.push(() => Promise.resolve(stop()));
    const sent = await js.publish("coze.workflow.wf3.started", bytes("lost?"), { type: "t" });
    const raw = await jetstream(bus.nats).consumers.get(STREAM, "crashy");
    // Two deliveries taken and never acked; the third pull makes the server notice max_deliver and advise.
    for (let i = 0; i < 3; i++) {
      const batch = await raw.fetch({ max_messages: 1, expires: 1000 });
      for await (const _m of batch) break; // taken, never acked: the worker "died"
      await sleep(400);
    }
    let entries: Awaited<ReturnType<JetStream["deadLetters"]["list"]>> = [];
    for (let i = 0; i < 100 && entries.length === 0; i++) {
      entries = await js.deadLetters.list();
      if (entries.length === 0) await sleep(100);
    }
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ reason: "abandoned", sequence: sent.seq, consumer: "crashy", deliveries: 2 });
    expect(text(entries[0]!.data)).toBe("lost?");
  });

  it("dlq replay returns the event to its subject, where it is handled, and removes the entry", async () => {
    const { js } = await setup();
    await js.publish("coze.workflow.wf5.started", bytes("retry me"), { type: "t" });
    let fixed = false;
    const handled: string[] = [];
    const c = await js.consume({ stream: STREAM, group: "g" }, (m) => {
      if (!fixed) throw new NonRetryableError("bug");
      handled.push(text(m.data));
    });
    await waitFor("the dead letter", () => c.stats.deadLettered === 1);
    const [entry] = await js.deadLetters.list();
    fixed = true;
    const ack = await js.deadLetters.replay(entry!.seq);
    expect(ack.subject).toBe("coze.workflow.wf5.started");
    await waitFor("the replayed event", () => handled.length === 1);
    expect(handled).toEqual(["retry me"]);
    expect(await js.deadLetters.count()).toBe(0);
  });
});

describe("JetStream consume: groups, ordering, shutdown, recovery", () => {
  it("two groups each receive everything while members of one group split it", async () => {
    const { server, js } = await setup();
    const other = await extraBus(server);
    const a1: string[] = [];
    const a2: string[] = [];
    const b: string[] = [];
    await js.consume({ stream: STREAM, group: "A" }, (m) => void a1.push(m.event!.id));
    await other.consume({ stream: STREAM, group: "A" }, (m) => void a2.push(m.event!.id));
    await js.consume({ stream: STREAM, group: "B" }, (m) => void b.push(m.event!.id));
    const n = 1000;
    const acks = await Promise.all(Array.from({ length: n }, (_, i) => js.publish(`coze.workflow.wf${i % 7}.started`, bytes(String(i)), { type: "t" })));
    await waitFor("group A", () => a1.length + a2.length === n);
    await waitFor("group B", () => b.length === n);
    expect(new Set([...a1, ...a2]).size).toBe(n);
    expect(new Set(b)).toEqual(new Set(acks.map((a) => a.id)));
    expect(a1.length).toBeGreaterThan(0);
    expect(a2.length).toBeGreaterThan(0);
  });

  it("filters by subject within the stream", async () => {
    const { js } = await setup();
    const got: string[] = [];
    await js.consume({ stream: STREAM, group: "only-wf2", filter: "coze.workflow.wf2.>" }, (m) => void got.push(m.subject));
    for (const wf of ["wf1", "wf2", "wf3", "wf2"]) await js.publish(`coze.workflow.${wf}.started`, bytes(""), { type: "t" });
    await waitFor("wf2 events", () => got.length === 2);
    await sleep(200);
    expect(got).toEqual(["coze.workflow.wf2.started", "coze.workflow.wf2.started"]);
  });

  it("orderBy subject: per-subject order holds with concurrency and in-place retries", async () => {
    const { js } = await setup();
    const seen = new Map<string, number[]>();
    let failedOnce = false;
    const c = await js.consume(
      { stream: STREAM, group: "ordered" },
      async (m) => {
        const n = Number(text(m.data));
        if (n === 4 && !failedOnce) {
          failedOnce = true;
          throw new Error("first try of event 4 fails");
        }
        await sleep((n * 7) % 5);
        const list = seen.get(m.subject) ?? [];
        list.push(n);
        seen.set(m.subject, list);
      },
      { orderBy: "subject", concurrency: 4, retry: fast },
    );
    const subjects = ["coze.workflow.a.started", "coze.workflow.b.started", "coze.workflow.c.started"];
    for (let i = 0; i < 90; i++) await js.publish(subjects[i % 3]!, bytes(String(i)), { type: "t" });
    await waitFor("all events", () => c.stats.acked === 90, 20_000);
    for (const [i, s] of subjects.entries()) {
      expect(seen.get(s)).toEqual(Array.from({ length: 30 }, (_, k) => k * 3 + i));
    }
  });

  it("stop(): no new pulls, events already here finish and are acked, later ones go to the other member; nothing lost or stranded", async () => {
    const { server, js } = await setup();
    const other = await extraBus(server);
    const done = new Set<string>();
    let finishedAfterStop = 0;
    let stopping = false;
    const slow = await js.consume({ stream: STREAM, group: "G" }, async (m) => {
      await sleep(200);
      if (stopping) finishedAfterStop++;
      done.add(m.event!.id);
    }, { concurrency: 4 });
    const ids = (await Promise.all(Array.from({ length: 60 }, (_, i) => js.publish(`coze.workflow.wf${i}.started`, bytes(""), { type: "t" })))).map((a) => a.id);
    await waitFor("work under way", () => slow.stats.inFlight > 0);
    stopping = true;
    await slow.stop();
    expect(finishedAfterStop).toBeGreaterThan(0); // it waited for running handlers
    await other.consume({ stream: STREAM, group: "G" }, (m) => void done.add(m.event!.id), { concurrency: 8 });
    await waitFor("every event", () => done.size === 60, 20_000);
    expect(new Set(ids)).toEqual(done);
  });

  it("server restarted twice mid-stream: nothing lost, nothing handled twice", async () => {
    const { server, js } = await setup();
    const handled = new Map<string, number>();
    const c = await js.consume({ stream: STREAM, group: "R" }, async (m) => {
      await sleep(1);
      handled.set(m.event!.id, (handled.get(m.event!.id) ?? 0) + 1);
    }, { concurrency: 8, retry: { ackWaitMs: 2000 } });
    const ids: string[] = [];
    for (let round = 0; round < 3; round++) {
      const acks = await Promise.all(Array.from({ length: 500 }, (_, i) => js.publish(`coze.workflow.r${round}.e${i}`, bytes(""), { type: "t" })));
      ids.push(...acks.map((a) => a.id));
      if (round < 2) {
        await waitFor("some progress", () => handled.size > round * 500 + 100, 20_000);
        await server.restart("SIGKILL");
      }
    }
    await waitFor("every event handled", () => ids.every((id) => handled.has(id)), 45_000);
    await sleep(2500); // past the ack wait: late redeliveries would show up now
    expect([...handled.values()].filter((n) => n > 1)).toEqual([]);
    expect(handled.size).toBe(1500);
    expect(c.stats.acked + c.stats.skippedDuplicates).toBeGreaterThanOrEqual(1500);
  });

  it("a deleted consumer is recreated, with status events, and delivery resumes", async () => {
    const { js } = await setup();
    const statuses: ConsumerStatus["type"][] = [];
    const got: string[] = [];
    await js.consume({ stream: STREAM, group: "phoenix" }, (m) => void got.push(text(m.data)), { onStatus: (s) => void statuses.push(s.type) });
    await js.publish("coze.workflow.a.started", bytes("before"), { type: "t" });
    await waitFor("first event", () => got.length === 1);
    await js.jsm.consumers.delete(STREAM, "phoenix");
    await waitFor(`recreation (statuses so far: ${statuses.join(", ")})`, () => statuses.includes("consumer_recreated"), 30_000).catch((e: Error) => {
      throw new Error(`${e.message}; statuses: ${statuses.join(", ")}`);
    });
    await js.publish("coze.workflow.a.started", bytes("after"), { type: "t" });
    await waitFor("event after recreation", () => got.includes("after"), 30_000);
    expect(statuses).toContain("consumer_missing");
  });

  it("reconciles the consumer config explicitly when options change", async () => {
    const { js } = await setup();
    const c1 = await js.consume({ stream: STREAM, group: "cfg" }, () => undefined, { retry: { ackWaitMs: 5000, maxDeliveries: 4 } });
    await c1.stop();
    await js.consume({ stream: STREAM, group: "cfg" }, () => undefined, { retry: { ackWaitMs: 9000, maxDeliveries: 7 } });
    const info = await js.jsm.consumers.info(STREAM, "cfg");
    expect(info.config.ack_wait).toBe(9000 * 1e6);
    expect(info.config.max_deliver).toBe(7);
  });
});
