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
