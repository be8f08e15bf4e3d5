import { isCozebusError, type Delivery, type Outcome, type SubjectTemplate, type SubscriptionSpec } from "@cozebus/core/transport";
import { startPulsar, type PulsarBroker } from "@cozebus/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeadLetters, connectPulsar, type PulsarTransport } from "../src/index.js";
import { ACK, event, freshTemplate, poll, recorder, sleep, text, until } from "./helpers.js";

let broker: PulsarBroker;
let bus: PulsarTransport;
const errors: Error[] = [];

beforeAll(async () => {
  const t0 = Date.now();
  broker = await startPulsar();
  console.log(`broker started in ${Date.now() - t0} ms`);
  bus = await connectPulsar({ webServiceUrl: broker.webServiceUrl, env: {}, onError: (e) => errors.push(e) });
}, 180_000);

afterAll(async () => {
  await bus?.close();
  await broker?.stop();
});

const spec = (template: SubjectTemplate, group: string, more: Partial<SubscriptionSpec> = {}): SubscriptionSpec => ({
  domain: "wf",
  group,
  qos: "at-least-once",
  events: [{ template }],
  ...more,
});

describe("publish and subscribe", () => {
  it("round trip: payload, key, CloudEvents properties, subject, attempt and position", async () => {
    const tpl = freshTemplate();
    const r = recorder();
    const sub = await bus.subscribe(spec(tpl, "g1"), r.handler);
    // A second subscription only to peek at the stored message (its key) over the admin API.
    const local = encodeURIComponent(bus.topicOf(event(tpl, "x")).split("/").pop()!);
    const created = await broker.admin(`/admin/v2/persistent/public/default/${local}/subscription/peek`, { method: "PUT" });
    expect(created.status).toBe(204);
    const receipt = await bus.publish(
      event(tpl, "wf_1", new Uint8Array([0, 1, 2, 255]), {
        attributes: { type: "coze.workflow.v1.Started", source: "svc-a", traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", headers: { "X-App": "yes" } },
      }),
    );
    expect(receipt.subject).toBe(`coze.wf.wf_1.${tpl.parts[2] && "literal" in tpl.parts[2] ? tpl.parts[2].literal : ""}`);
    expect(receipt.position).toMatch(/^\d+:\d+$/);
    expect(receipt.qos).toBe("at-least-once");
    await until(() => r.seen.length === 1, "the event");
    const d = r.seen[0]!;
    expect([...d.data]).toEqual([0, 1, 2, 255]);
    expect(d.subject).toBe(receipt.subject);
    expect(tpl.match(d.subject)).toEqual({ workflow_id: "wf_1" });
    expect(d.attempt).toBe(1);
    expect(d.position).toBe(receipt.position);
    expect(d.event).toMatchObject({ id: receipt.id, type: "coze.workflow.v1.Started", source: "svc-a", contentType: "application/protobuf" });
    expect(d.event?.traceparent).toMatch(/^00-0af7/);
    expect(d.headers.get("x-app")).toBe("yes");
    expect(d.headers.get("ce-specversion")).toBe("1.0");
    const peek = await broker.admin(`/admin/v2/persistent/public/default/${local}/subscription/peek/position/1`);
    await peek.body?.cancel();
    expect(peek.headers.get("x-pulsar-partition-key")).toBe("wf_1");
    await sub.stop();
    // The topic is the template without its field.
    expect(bus.topicOf(event(tpl, "x"))).toBe(`persistent://public/default/coze.wf.${tpl.template.split(".").pop()}`);
  });

  it("a Shared group of two instances splits the events (a second replica can subscribe); two groups each get all", async () => {
    const tpl = freshTemplate();
    const a = recorder();
    const b = recorder();
    const other = recorder();
    const subs = [await bus.subscribe(spec(tpl, "split"), a.handler), await bus.subscribe(spec(tpl, "split"), b.handler), await bus.subscribe(spec(tpl, "other"), other.handler)];
    const results = await bus.publishBatch(Array.from({ length: 200 }, (_, i) => event(tpl, `e${i}`)));
    expect(results.every((r) => r.ok)).toBe(true);
    await until(() => a.seen.length + b.seen.length === 200 && other.seen.length === 200, "all events in both groups");
    console.log(`Shared split of 200 events: ${a.seen.length} / ${b.seen.length}`);
    expect(a.seen.length).toBeGreaterThan(0);
    expect(b.seen.length).toBeGreaterThan(0);
    const ids = new Set([...a.seen, ...b.seen].map(text));
    expect(ids.size).toBe(200);
    await Promise.all(subs.map((s) => s.stop()));
  });

  it("publishBatch: 1,000 sends in flight on one producer, every one with its own receipt", async () => {
    const tpl = freshTemplate();
    const r = recorder();
    const sub = await bus.subscribe(spec(tpl, "batch", { concurrency: 16 }), r.handler);
    const t0 = Date.now();
    const results = await bus.publishBatch(Array.from({ length: 1000 }, (_, i) => event(tpl, `b${i}`)));
    console.log(`publishBatch 1000: ${Date.now() - t0} ms`);
    const positions = new Set(results.map((x) => (x.ok ? x.receipt.position : "failed")));
    expect(positions.size).toBe(1000);
    expect(positions.has("failed")).toBe(false);
    await until(() => r.seen.length >= 1000, "1000 deliveries");
    expect(new Set(r.seen.map(text)).size).toBe(1000);
    await sub.stop();
    await expect(bus.publishBatch([event(tpl, "x")], { atomic: true })).rejects.toMatchObject({ code: "FEATURE_UNAVAILABLE", feature: "atomic-batch" });
  });

  it("an oversized event is a PublishRejectedError naming the topic and size; nothing else is lost", async () => {
    const tpl = freshTemplate();
    const r = recorder();
    const sub = await bus.subscribe(spec(tpl, "big"), r.handler);
    const before = bus.publish(event(tpl, "before"));
    const big = bus.publish(event(tpl, "big", new Uint8Array(900_000)));
    const after = bus.publish(event(tpl, "after"));
    const err = await big.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCozebusError(err, "PUBLISH_REJECTED")).toBe(true);
    expect((err as Error).message).toContain(bus.topicOf(event(tpl, "x")));
    expect((err as Error).message).toContain("900000 bytes");
    await before;
    await after;
    await bus.publish(event(tpl, "next"));
    await until(() => r.seen.length === 3, "the three small events");
    expect(r.seen.map(text).sort()).toEqual(["after", "before", "next"]);
    await sub.stop();
  });

  it("refuses what Pulsar cannot do: ttlMs, request/reply", async () => {
    const tpl = freshTemplate();
    await expect(bus.publish(event(tpl, "x", "x", { ttlMs: 1000 }))).rejects.toMatchObject({ code: "FEATURE_UNAVAILABLE", feature: "message-ttl" });
    await expect(bus.request({ address: event(tpl, "x").address, data: new Uint8Array(), attributes: { type: "t" }, timeoutMs: 100 })).rejects.toMatchObject({ feature: "request-reply" });
    expect(bus.features("at-most-once").requestReply).toBe(false);
    expect(bus.effectiveQos("at-most-once")).toBe("at-least-once");
  });

  it("deliverAt: not handled before its time", async () => {
    const tpl = freshTemplate();
    const r = recorder();
    const sub = await bus.subscribe(spec(tpl, "later"), r.handler);
    const at = new Date(Date.now() + 2000);
    await bus.publish(event(tpl, "later", "later", { deliverAt: at }));
    await until(() => r.seen.length === 1, "the delayed event");
    const handledAt = Date.now();
    expect(handledAt).toBeGreaterThanOrEqual(at.getTime());
    await sub.stop();
  });
});

describe("outcomes", () => {
  it("retry redelivers with attempt 2; the retry delay is kept", async () => {
    const tpl = freshTemplate();
    const r = recorder((d) => (d.attempt === 1 ? { type: "retry", delayMs: 500 } : ACK));
    const sub = await bus.subscribe(spec(tpl, "retry"), r.handler);
    await bus.publish(event(tpl, "r1"));
    await until(() => r.seen.length === 2, "the redelivery");
    expect(r.seen.map((d) => d.attempt)).toEqual([1, 2]);
    expect(r.seen[1]!.position).toBe(r.seen[0]!.position);
    await sleep(500);
    expect(r.seen.length).toBe(2); // acked: not redelivered again
    await sub.stop();
  });

  it("dead-letter: lands on the domain's DLQ with the reason, list() shows it, replay() brings it back", async () => {
    const tpl = freshTemplate("dlq1");
    await bus.provision({ domain: "dlq1", events: [{ template: tpl, qos: "at-least-once", type: "coze.workflow.v1.Test" }], operations: [] });
    let poison = true;
    const r = recorder((d) => (poison && text(d) === "bad" ? { type: "dead-letter", reason: "undecodable", error: new Error("cannot decode: bad bytes") } : ACK));
    const sub = await bus.subscribe(spec(tpl, "dl", { domain: "dlq1" }), r.handler);
    await bus.publish(event(tpl, "bad"));
    await bus.publish(event(tpl, "good"));
    await until(() => r.seen.length === 2, "both events");
    const dlq = new DeadLetters(bus, "dlq1");
    const letters = await poll(() => dlq.list(), (l) => l.length > 0, "the dead letter");
    expect(letters).toHaveLength(1);
    const l = letters[0]!;
    expect(l).toMatchObject({ reason: "undecodable", deliveries: 1, subscription: "dl", type: "coze.workflow.v1.Test", error: "cannot decode: bad bytes", topic: bus.topicOf(event(tpl, "x")) });
    expect(l.subject).toBe(r.seen.find((d) => text(d) === "bad")!.subject);
    expect(text({ data: l.data } as Delivery)).toBe("bad");
    poison = false;
    const replay = await dlq.replay(l.id);
    expect(replay).toMatchObject({ replayed: [l.id], missing: [], failed: [] });
    await until(() => r.seen.length === 3, "the replayed event");
    expect(text(r.seen[2]!)).toBe("bad");
    expect(r.seen[2]!.event?.id).toBe(r.seen[0]!.event?.id);
    expect(await dlq.list()).toHaveLength(0);
    await dlq.close();
    await sub.stop();
  });

  it("max deliveries: a handler that keeps asking for a retry is dead-lettered as max-deliveries after the last delivery", async () => {
    const tpl = freshTemplate("dlq2");
    const r = recorder((): Outcome => ({ type: "retry", delayMs: 50, error: new Error("still failing") }));
    const sub = await bus.subscribe(spec(tpl, "md", { domain: "dlq2", maxDeliveries: 3 }), r.handler);
    await bus.publish(event(tpl, "loop"));
    const dlq = new DeadLetters(bus, "dlq2");
    await until(() => r.seen.length === 3, "three deliveries");
    const letters = await poll(() => dlq.list(), (l) => l.length > 0, "the dead letter");
    expect(r.seen.map((d) => d.attempt)).toEqual([1, 2, 3]);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ reason: "max-deliveries", deliveries: 3, error: "still failing" });
    await sleep(500);
    expect(r.seen).toHaveLength(3);
    await sub.stop();
  });

  it("remove() takes the chosen dead letters away without publishing them; topicStats() shows the backlog per subscription", async () => {
    const tpl = freshTemplate("dlq3");
    await bus.provision({ domain: "dlq3", events: [{ template: tpl, qos: "at-least-once", type: "coze.workflow.v1.Test" }], operations: [] });
    const r = recorder(() => ({ type: "dead-letter", reason: "non-retryable", error: new Error("no") }));
    const sub = await bus.subscribe(spec(tpl, "rm", { domain: "dlq3" }), r.handler);
    for (const id of ["a", "b", "c"]) await bus.publish(event(tpl, id));
    const dlq = new DeadLetters(bus, "dlq3");
    const letters = await poll(() => dlq.list(), (l) => l.length === 3, "three dead letters");
    await sub.stop();
    const topic = bus.topicOf(event(tpl, "x"));
    const before = (await bus.admin.topicStats(topic))!;
    expect(before.msgInCounter).toBe(3);
    expect(before.subscriptions["rm"]).toMatchObject({ msgBacklog: 0, unackedMessages: 0, consumers: 0, durable: true });
    expect((await bus.admin.topicStats(dlq.topic))!.subscriptions["cozebus-dlq"]).toMatchObject({ msgBacklog: 3 });
    expect(await bus.admin.topicStats(`${topic}-not-there`)).toBeUndefined();

    const b = letters.find((l) => text({ data: l.data } as Delivery) === "b")!;
    expect(await dlq.remove(b.id)).toEqual({ removed: [b.id], missing: [] });
    expect((await dlq.list()).map((l) => text({ data: l.data } as Delivery))).toEqual(["a", "c"]);
    expect(await dlq.remove(b.id)).toEqual({ removed: [], missing: [b.id] }); // already gone: nothing happens
    expect((await bus.admin.topicStats(topic))!.msgInCounter).toBe(3); // nothing was published back
    expect(await dlq.remove("all")).toMatchObject({ removed: expect.arrayContaining(letters.filter((l) => l.id !== b.id).map((l) => l.id)) as unknown, missing: [] });
    await poll(() => dlq.count(), (n) => n === 0, "the backlog to be empty");
    expect(r.seen).toHaveLength(3);
  });

  it("a handler that throws is reported and retried by the shared policy", async () => {
    const tpl = freshTemplate();
    let calls = 0;
    const sub = await bus.subscribe(spec(tpl, "throws", { maxDeliveries: 5 }), async () => {
      calls++;
      await sleep(1);
      if (calls === 1) throw new Error("boom");
      return ACK;
    });
    const before = errors.length;
    await bus.publish(event(tpl, "t"));
    await until(() => calls === 2, "the retry after a throw", 15_000);
    expect(errors.slice(before).some((e) => e.message.includes("boom"))).toBe(true);
    await sub.stop();
  });
});

describe("shutdown", () => {
  it("stop(): in-flight handlers finish and are acked; nothing is redelivered", async () => {
    const tpl = freshTemplate();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const started: string[] = [];
    const finished: string[] = [];
    const sub = await bus.subscribe(spec(tpl, "graceful", { concurrency: 3 }), async (d) => {
      started.push(text(d));
      await gate;
      finished.push(text(d));
      return ACK;
    });
    await bus.publishBatch([event(tpl, "a"), event(tpl, "b"), event(tpl, "c")]);
    await until(() => started.length === 3, "three handlers running");
    const stopping = sub.stop();
    await sleep(200);
    release();
    await stopping;
    expect(finished.sort()).toEqual(["a", "b", "c"]);
    const again = recorder();
    const sub2 = await bus.subscribe(spec(tpl, "graceful"), again.handler);
    await bus.publish(event(tpl, "d"));
    await until(() => again.seen.length >= 1, "the new event");
    await sleep(500);
    expect(again.seen.map(text)).toEqual(["d"]);
    await sub2.stop();
  });
});

describe("subscriptions over several topics", () => {
  it('events: "domain" takes every topic of the domain that exists when it subscribes', async () => {
    const t1 = freshTemplate("dom");
    const t2 = freshTemplate("dom");
    await bus.provision({ domain: "dom", events: [t1, t2].map((template) => ({ template, qos: "at-least-once" as const, type: "coze.dom.v1.T" })), operations: [] });
    const r = recorder();
    const sub = await bus.subscribe({ domain: "dom", group: "all", qos: "at-least-once", events: "domain" }, r.handler);
    await bus.publish(event(t1, "one"));
    await bus.publish(event(t2, "two"));
    await until(() => r.seen.length === 2, "events of both topics");
    expect(r.seen.map((d) => d.subject).sort()).toEqual([t1.build({ workflow_id: "one" }), t2.build({ workflow_id: "two" })].sort());
    await sub.stop();
  });
});

describe("Key_Shared: per-key order across instances", () => {
  // This case found a Pulsar 3.0 Key_Shared stall: with a receiver queue of 2 x concurrency, 4 of 15 runs on a loaded
  // machine stalled on their first attempt (both attempts in one CI run), twice caught with the stats: they
  // stopped (once before the kill) with the whole backlog in the broker's replay set (msgInReplay = msgBacklog),
  // no unacked messages and every consumer holding permits. Key_Shared consumers now take 1,000 (see
  // subscription.ts); 8 of 8 runs clean after. Still retried once, and a stall prints the broker's stats.
  it("3,000 events over 30 keys, 3 instances, one killed mid-stream: no loss, no order violation among what the survivors handled", { retry: 1, timeout: 180_000 }, async ({ onTestFailed }) => {
    // A failed first attempt is retried silently: print why, so a flake leaves its cause in the log.
    onTestFailed(({ task }) => console.log(`Key_Shared attempt failed: ${JSON.stringify(task.result?.errors?.map((e) => e.message))}`));
    const tpl = freshTemplate();
    const KEYS = 30;
    const PER_KEY = 100;
    const victimBus = await connectPulsar({ webServiceUrl: broker.webServiceUrl, env: {}, onError: () => {} });
    // Handling order as each consumer starts a handler: [consumer, key, seq].
    const log: Array<[string, number, number]> = [];
    const acked = new Set<string>();
    let killed = false;
    const handler = (name: string) => async (d: Delivery): Promise<Outcome> => {
      const [k, s] = text(d).split(":").map(Number) as [number, number];
      if (name === "victim" && killed) await new Promise(() => {}); // a crashed process: never settles
      log.push([name, k, s]);
      await sleep(Math.random() < 0.1 ? 2 : 0);
      if (name === "victim" && killed) await new Promise(() => {});
      acked.add(`${k}:${s}`);
      return ACK;
    };
    const ordered = (b: PulsarTransport, name: string) => b.subscribe(spec(tpl, "keyed", { orderBy: "key", concurrency: 4 }), handler(name));
    const subs = [await ordered(bus, "a"), await ordered(bus, "b")];
    await ordered(victimBus, "victim");
    const events = [];
    for (let s = 0; s < PER_KEY; s++) for (let k = 0; k < KEYS; k++) events.push(event(tpl, `k${k}`, `${k}:${s}`));
    const published = bus.publishBatch(events);
    // A stall: print what the broker thinks of the subscription (consumers, their key ranges, unacked, backlog,
    // and the recently-joined positions Key_Shared blocks new consumers on), so the cause is in the log.
    const stalled = async (err: unknown): Promise<never> => {
      const list = (await (await broker.admin("/admin/v2/persistent/public/default")).json()) as string[];
      for (const t of list.filter((x) => x.includes(tpl.template.split(".").at(-1)!))) {
        const stats = await (await broker.admin(`/admin/v2/persistent/public/default/${t.split("/").pop()}/stats`)).json();
        console.log(`stalled at ${log.length} handled, ${acked.size} acked; broker stats of ${t}: ${JSON.stringify(stats)}`);
      }
      throw err;
    };
    await until(() => log.length >= 1000, "a third of the events handled", 60_000).catch(stalled);
    killed = true;
    const killedAt = log.length;
    const victimBefore = log.filter(([c]) => c === "victim").length;
    await victimBus.wire.close(); // its sockets drop with handlers still running: like a crash
    expect((await published).every((r) => r.ok)).toBe(true);
    await until(() => acked.size === KEYS * PER_KEY, "every event acked", 120_000).catch(stalled);

    // Per key, what the survivors handled must come in order (strictly increasing).
    let violations = 0;
    const last = new Map<number, number>();
    for (const [c, k, s] of log) {
      if (c === "victim") continue;
      const prev = last.get(k);
      if (prev !== undefined && s <= prev) violations++;
      last.set(k, Math.max(prev ?? -1, s));
    }
    const per = (c: string) => log.filter(([x]) => x === c).length;
    const duplicates = log.length - new Set(log.map(([, k, s]) => `${k}:${s}`)).size;
    console.log(
      `Key_Shared: ${KEYS * PER_KEY} events, killed the victim after ${killedAt} handled (victim had ${victimBefore}); handled a=${per("a")} b=${per("b")} victim=${per("victim")}; duplicates=${duplicates}; order violations among survivors=${violations}`,
    );
    expect(acked.size).toBe(KEYS * PER_KEY);
    expect(violations).toBe(0);
    await Promise.all(subs.map((s) => s.stop()));
  });
});

describe("failures", () => {
  it("an unreachable broker is a ConnectError naming where the URL came from", async () => {
    const e1 = await connectPulsar({ env: { PULSAR_WEB_SERVICE_URL: "http://127.0.0.1:1" }, requestTimeoutMs: 2000 }).catch((e: unknown) => e);
    expect(isCozebusError(e1, "CONNECT_FAILED")).toBe(true);
    expect((e1 as Error).message).toContain("PULSAR_WEB_SERVICE_URL");
    const e2 = await connectPulsar({ env: { MQ_NAME_SERVER: "pulsar://pulsar.invalid:6650" }, requestTimeoutMs: 2000 }).catch((e: unknown) => e);
    expect(isCozebusError(e2, "CONNECT_FAILED")).toBe(true);
    expect((e2 as Error).message).toContain("MQ_NAME_SERVER");
  });

  it("the broker restarts: nothing is lost, the consumer resumes, sends made while it is down go out after", async () => {
    const tpl = freshTemplate();
    const own = await connectPulsar({ webServiceUrl: broker.webServiceUrl, env: {}, sendTimeoutMs: 120_000, onError: () => {} });
    const r = recorder();
    const sub = await own.subscribe(spec(tpl, "restart", { concurrency: 4 }), r.handler);
    await own.publishBatch(Array.from({ length: 50 }, (_, i) => event(tpl, `before${i}`)));
    await until(() => r.seen.length >= 50, "the first 50");
    const t0 = Date.now();
    const restarting = broker.restart();
    await sleep(500);
    const during = own.publishBatch(Array.from({ length: 20 }, (_, i) => event(tpl, `during${i}`)));
    await restarting;
    console.log(`broker restart took ${Date.now() - t0} ms`);
    expect((await during).every((x) => x.ok)).toBe(true);
    await own.publishBatch(Array.from({ length: 30 }, (_, i) => event(tpl, `after${i}`)));
    const distinct = () => new Set(r.seen.map(text)).size;
    await until(() => distinct() === 100, "all 100 events after the restart", 120_000);
    console.log(`restart: ${r.seen.length} deliveries of 100 events`);
    await sub.stop();
    await own.close();
  }, 240_000);
});
