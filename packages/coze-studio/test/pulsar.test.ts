/**
 * The Pulsar half against a real broker (one per file), on its own: wire
 * details read back through the admin REST API (topic, subscription name and
 * type, key, payload bytes, properties), retries, dead letters, replicas,
 * the bridge and doctor. Against Coze's real Go client
 * (apache/pulsar-client-go, via cozego): pulsar-go.test.ts.
 */
import { startPulsar, type PulsarBroker } from "@cozebus/testing";
import { clientsFor, resolveConfig, type IncomingMessage, type PulsarWire, type WireConsumer } from "@cozebus/pulsar";
import { connectPulsar } from "@cozebus/pulsar";
import { knowledge, type KnowledgeEvent as TypedKnowledgeEvent } from "@cozebus/knowledge";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  COZEBUS_SUBSCRIPTION_TYPE,
  bridgeCozeStudio,
  bridgedEventId,
  checkCozeStudioPulsar,
  DLQ_PROP,
  KNOWLEDGE,
  cozeStudioPulsar,
  deadLetterTopicOf,
  fanOutIndexDocuments,
  knowledgeEventCodec,
  knowledgeEvents,
  openCozeStudio,
  pulsarTopicOf,
  type CozeStudioPulsar,
  type CozeTopic,
  type KnowledgeEvent,
} from "../src/index.js";
import { freshKnowledgeTopic, topicStats, until } from "./pulsar-helpers.js";
import { BIG_ID, INT64_MAX, fullDocument } from "./fixtures.js";

let broker: PulsarBroker;
let raw: { wire: PulsarWire; admin: ReturnType<typeof clientsFor>["admin"] };
const opened: CozeStudioPulsar[] = [];
const errors: Error[] = [];

const env = (): Record<string, string> => ({ COZE_MQ_TYPE: "pulsar", MQ_NAME_SERVER: broker.serviceUrl, PULSAR_WEB_SERVICE_URL: broker.webServiceUrl });

async function coze(): Promise<CozeStudioPulsar> {
  const c = await cozeStudioPulsar({ pulsar: { env: env() }, onError: (e) => errors.push(e) });
  opened.push(c);
  return c;
}

const freshTopic = (): CozeTopic<KnowledgeEvent> => freshKnowledgeTopic("t");



const text = (b: Uint8Array): string => new TextDecoder().decode(b);

beforeAll(async () => {
  broker = await startPulsar();
  raw = clientsFor(resolveConfig({ webServiceUrl: broker.webServiceUrl, env: {} }), (e) => errors.push(e));
}, 180_000);

afterAll(async () => {
  await Promise.all(opened.map((c) => c.close().catch(() => undefined)));
  await raw?.wire.close();
  await broker?.stop();
});

describe("names and wire (read back through the admin REST API)", () => {
  it("sends on persistent://public/default/opencoze_knowledge: payload = the JSON bytes, key = the sharding key, only ce-* properties", async () => {
    const c = await coze();
    const topic = pulsarTopicOf("opencoze_knowledge");
    expect(topic).toBe("persistent://public/default/opencoze_knowledge");
    // A subscription to read back from (Pulsar keeps nothing without one).
    await raw.admin.createTopic(topic);
    await raw.admin.createSubscription(topic, "wire_probe");
    const p = await c.producer(KNOWLEDGE);
    const event = knowledgeEvents.indexDocument(BIG_ID, fullDocument(INT64_MAX, BIG_ID));
    const receipt = await p.send(event, { shardingKey: String(BIG_ID) });
    expect(receipt.messageId).toMatch(/^\d+:\d+/);
    const peeked = await raw.admin.peek(topic, "wire_probe", 1);
    expect(peeked).toBeDefined();
    expect(Buffer.from(peeked!.data).equals(Buffer.from(knowledgeEventCodec.encode(event)))).toBe(true);
    expect(peeked!.key).toBe(String(BIG_ID));
    expect(Object.keys(peeked!.properties).sort()).toEqual(["ce-id", "ce-source", "ce-specversion", "ce-time", "ce-type", "content-type"]);
    expect(peeked!.properties["ce-type"]).toBe("coze-studio.opencoze_knowledge.index_document");
    expect(peeked!.properties["ce-id"]).toBe(receipt.id);
    // 64-bit ids exact on the way back through a cozebus consumer too.
    expect(knowledgeEventCodec.decode(peeked!.data).document?.id).toBe(INT64_MAX);
  });

  it("registers a Shared subscription named after the group, and a kept <topic>-<group>-DLQ", async () => {
    const c = await coze();
    const consumer = await c.registerConsumer(KNOWLEDGE, () => undefined, { group: "cg_wire_probe" });
    const s = await topicStats(broker, pulsarTopicOf("opencoze_knowledge"));
    expect(s.subscriptions["cg_wire_probe"]?.type).toBe(COZEBUS_SUBSCRIPTION_TYPE);
    expect(s.subscriptions["cg_wire_probe"]?.consumers?.length).toBe(1);
    const dlq = await topicStats(broker, deadLetterTopicOf("opencoze_knowledge", "cg_wire_probe"));
    expect(deadLetterTopicOf("opencoze_knowledge", "cg_wire_probe")).toBe("persistent://public/default/opencoze_knowledge-cg_wire_probe-DLQ");
    expect(Object.keys(dlq.subscriptions)).toEqual(["cozebus-dlq"]);
    await consumer.stop();
  });

  it("receives what a Go-style producer sends (payload and key, no properties)", async () => {
    const c = await coze();
    const t = freshTopic();
    const seen: Array<{ e: KnowledgeEvent; key: string | undefined; id: string | undefined }> = [];
    await c.registerConsumer(t, (e, m) => void seen.push({ e, key: m.shardingKey, id: m.id }), { group: "cg_knowledge" });
    const go = raw.wire.producer(pulsarTopicOf(t.topic));
    const body = knowledgeEventCodec.encode(knowledgeEvents.deleteKnowledgeData(BIG_ID, [INT64_MAX, 1n]));
    await go.send({ data: body, key: String(BIG_ID), properties: {} });
    await until("the Go-style message", () => seen.length === 1);
    expect(seen[0]!.e.type).toBe("delete_knowledge_data");
    expect(seen[0]!.e.sliceIds).toEqual([INT64_MAX, 1n]);
    expect(seen[0]!.key).toBe(String(BIG_ID));
    expect(seen[0]!.id).toBeUndefined();
    await go.close();
  });

  it("cannot join a group a Go consumer holds Exclusive, and says why", async () => {
    const c = await coze();
    const t = freshTopic();
    const full = pulsarTopicOf(t.topic);
    const goConsumer: WireConsumer = await raw.wire.consumer(full, "cg_go_held", { subscriptionType: "Exclusive", receiverQueueSize: 10, negativeAckRedeliveryDelayMs: 60_000 }, { onMessage: () => undefined });
    await expect(c.registerConsumer(t, () => undefined, { group: "cg_go_held" })).rejects.toThrow(/Exclusive/);
    await goConsumer.close();
  });
});

describe("delivery", () => {
  it("fans one index_documents out into N index_document on the same topic, keys repeated, nothing lost", async () => {
    const c = await coze();
    const t = freshTopic();
    const p = await c.producer(t);
    // The knowledge service's own group does the fan-out, as Coze's handler does.
    await c.registerConsumer(
      t,
      async (e) => {
        if (e.type === "index_documents") for (const f of fanOutIndexDocuments(e)) await p.send(f.event, { shardingKey: f.shardingKey });
      },
      { group: "cg_knowledge" },
    );
    const docs: Array<{ id: bigint; key: string | undefined }> = [];
    await c.registerConsumer(t, (e, m) => void (e.type === "index_document" && docs.push({ id: e.document!.id, key: m.shardingKey })), { group: "cg_mirror" });
    const N = 25;
    const ids = Array.from({ length: N }, (_, i) => BIG_ID + BigInt(i));
    await p.send(knowledgeEvents.indexDocuments(BIG_ID, ids.map((id) => fullDocument(id, BIG_ID))), { shardingKey: String(BIG_ID) });
    await until(`${N} index_document`, () => docs.length >= N);
    expect(docs.map((d) => d.id).sort()).toEqual(ids);
    expect(new Set(docs.map((d) => d.key))).toEqual(new Set([String(BIG_ID)]));
    // The same key 50 more times, at once: every one kept.
    const batch = Array.from({ length: 50 }, (_, i) => knowledgeEvents.indexDocument(BIG_ID, fullDocument(10n ** 18n + BigInt(i), BIG_ID)));
    const receipts = await p.sendBatch(batch, { shardingKey: String(BIG_ID) });
    expect(new Set(receipts.map((r) => r.id)).size).toBe(50);
    await until("50 more", () => docs.length >= N + 50);
    await new Promise((r) => setTimeout(r, 300));
    expect(docs.length).toBe(N + 50);
  });

  it("dead-letters malformed JSON at once and keeps consuming", async () => {
    const c = await coze();
    const t = freshTopic();
    const seen: KnowledgeEvent[] = [];
    const consumer = await c.registerConsumer(t, (e) => void seen.push(e), { group: "cg_knowledge", onError: () => undefined });
    const go = raw.wire.producer(pulsarTopicOf(t.topic));
    await go.send({ data: new TextEncoder().encode('{"Type":"index_document","Document":'), key: "1", properties: {} });
    await go.send({ data: knowledgeEventCodec.encode(knowledgeEvents.deleteKnowledgeData(1n, [])), properties: {} });
    await until("the good message after the bad one", () => seen.length === 1);
    await until("the dead letter", () => consumer.stats.deadLettered === 1);
    const dl = await raw.admin.peek(deadLetterTopicOf(t.topic, "cg_knowledge"), "cozebus-dlq", 1);
    expect(text(dl!.data)).toBe('{"Type":"index_document","Document":');
    expect(dl!.key).toBe("1");
    expect(dl!.properties[DLQ_PROP.reason]).toBe("undecodable");
    expect(dl!.properties[DLQ_PROP.deliveries]).toBe("1");
    expect(dl!.properties[DLQ_PROP.error]).toMatch(/malformed JSON/);
    await go.close();
  });

  it("retries a failing handler with backoff, then dead-letters it after maxDeliveries", async () => {
    const c = await coze();
    const t = freshTopic();
    const attempts: Array<{ attempt: number; at: number }> = [];
    const consumer = await c.registerConsumer(
      t,
      (_e, m) => {
        attempts.push({ attempt: m.attempt, at: Date.now() });
        throw new Error("search store down");
      },
      { group: "cg_knowledge", retry: { maxDeliveries: 3, backoff: { initialMs: 400, multiplier: 2, maxMs: 2000, jitter: 0 } }, onError: () => undefined },
    );
    const p = await c.producer(t);
    await p.send(knowledgeEvents.deleteKnowledgeData(5n, [6n]));
    await until("the dead letter", () => consumer.stats.deadLettered === 1, 20_000);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    // The delays are the backoff's (400 ms, then 800 ms), not the broker's fixed nack delay.
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(350);
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(750);
    expect(consumer.stats.retried).toBe(2);
    const dl = await raw.admin.peek(deadLetterTopicOf(t.topic, "cg_knowledge"), "cozebus-dlq", 1);
    expect(dl!.properties[DLQ_PROP.reason]).toBe("max-deliveries");
    expect(dl!.properties[DLQ_PROP.error]).toMatch(/search store down/);
  });

  it("shares one group's messages between two replicas (Shared, where Go's Exclusive allows one)", async () => {
    const t = freshTopic();
    const [a, b] = [await coze(), await coze()];
    const got = { a: [] as bigint[], b: [] as bigint[] };
    const slow = (list: bigint[]) => async (e: KnowledgeEvent) => {
      list.push(e.knowledgeId);
      await new Promise((r) => setTimeout(r, 20));
    };
    await a.registerConsumer(t, slow(got.a), { group: "cg_knowledge" });
    await b.registerConsumer(t, slow(got.b), { group: "cg_knowledge" });
    const s = await topicStats(broker, pulsarTopicOf(t.topic));
    expect(s.subscriptions["cg_knowledge"]?.consumers?.length).toBe(2);
    const p = await a.producer(t);
    const N = 40;
    await p.sendBatch(Array.from({ length: N }, (_, i) => knowledgeEvents.deleteKnowledgeData(BigInt(i), [])));
    await until(`${N} messages between the two`, () => got.a.length + got.b.length >= N);
    await new Promise((r) => setTimeout(r, 300));
    expect(got.a.length + got.b.length).toBe(N);
    expect(new Set([...got.a, ...got.b]).size).toBe(N);
    expect(got.a.length).toBeGreaterThan(0);
    expect(got.b.length).toBeGreaterThan(0);
  });

  it("COZE_MQ_TYPE=pulsar makes openCozeStudio() join Pulsar", async () => {
    const c = await openCozeStudio({ env: env(), onError: (e) => errors.push(e) });
    expect(c.mode).toBe("pulsar");
    const t = freshTopic();
    const seen: IncomingMessage[] = [];
    const sub = await raw.wire.consumer(pulsarTopicOf(t.topic), "probe", { subscriptionType: "Shared", receiverQueueSize: 10, negativeAckRedeliveryDelayMs: 100 }, { onMessage: (m) => void seen.push(m) });
    const p = await c.producer(t.topic);
    await p.send('{"Type":"delete_knowledge_data","KnowledgeID":1}', { shardingKey: "1" });
    await until("the message", () => seen.length === 1);
    expect(text(seen[0]!.data)).toBe('{"Type":"delete_knowledge_data","KnowledgeID":1}');
    sub.ack(seen[0]!.messageId);
    await sub.close();
    await c.close();
  });
});

describe("bridgeCozeStudio (Pulsar legacy side, Pulsar typed side)", () => {
  it("bridges with ce-id from the message id, stops mid-stream and resumes on its subscription: one typed id per legacy message", async () => {
    const typed = await connectPulsar({ webServiceUrl: broker.webServiceUrl, env: {}, onError: (e) => errors.push(e) });
    const seen: Array<{ id: string; kid: bigint }> = [];
    const kb = knowledge(typed);
    await kb.provision();
    await kb.subscribeAll((e: TypedKnowledgeEvent) => void (e.type === "indexDocumentRequested" && seen.push({ id: e.ctx.id, kid: e.event.knowledgeId })), { group: "typed_check", concurrency: 8 });
    const legacySide = await coze();
    const p = await legacySide.producer(KNOWLEDGE);
    const base = 5_000_000_000_000_000n;
    const doc = (i: number) => knowledgeEvents.indexDocument(base + BigInt(i), fullDocument(BigInt(i + 1), base + BigInt(i)));
    // Only this test's documents: the bridge's new subscription starts at the earliest retained message, so it also
    // bridges what earlier tests of this file sent on the topic.
    const mine = () => seen.filter((s) => s.kid >= base && s.kid < base + 100n);
    // Started before Coze sends; a new subscription of the bridge starts at the earliest retained message.
    const first = await bridgeCozeStudio({ from: legacySide, to: typed, concurrency: 2, onError: () => undefined });
    const r0 = await p.send(doc(0), { shardingKey: String(base) });
    await p.sendBatch(Array.from({ length: 59 }, (_, i) => doc(i + 1)), { shardingKey: String(base) });
    await until("60 bridged", () => mine().length >= 60);
    expect(mine().find((s) => s.kid === base)!.id).toBe(bridgedEventId(`pulsar/persistent://public/default/opencoze_knowledge/${r0.messageId}`));
    await first.stop();
    await p.sendBatch(Array.from({ length: 40 }, (_, i) => doc(60 + i)), { shardingKey: String(base) });
    const resumed = await bridgeCozeStudio({ from: await coze(), to: typed, onError: () => undefined });
    await until("100 bridged", () => mine().length >= 100);
    await new Promise((r) => setTimeout(r, 500));
    // At least once on a Pulsar typed side: a message in flight at stop() may be delivered (or bridged) again, but
    // always under the same ce-id — no legacy message ever becomes two different typed events.
    const idsPerDoc = new Map<bigint, Set<string>>();
    for (const s of mine()) idsPerDoc.set(s.kid, (idsPerDoc.get(s.kid) ?? new Set()).add(s.id));
    expect(idsPerDoc.size).toBe(100);
    expect([...idsPerDoc.values()].every((ids) => ids.size === 1)).toBe(true);
    expect(new Set(mine().map((s) => s.id)).size).toBe(100);
    expect(resumed.stats.bridged["indexDocumentRequested"]).toBeGreaterThanOrEqual(40);
    const st = await topicStats(broker, pulsarTopicOf("opencoze_knowledge"));
    expect(st.subscriptions["cozebus_bridge"]?.type).toBe("Shared");
    await resumed.stop();
    await typed.close();
  });
});

describe("checkCozeStudioPulsar (doctor)", () => {
  it("reports topics, subscription types, dead letters and retention; Go's Exclusive and PULSAR_SERVICE_URL explained", async () => {
    const full = pulsarTopicOf("opencoze_search_app");
    const go = await raw.wire.consumer(full, "cg_search_app", { subscriptionType: "Exclusive", receiverQueueSize: 10, negativeAckRedeliveryDelayMs: 60_000 }, { onMessage: () => undefined });
    const report = await checkCozeStudioPulsar(raw.admin, { env: { ...env(), PULSAR_SERVICE_URL: "pulsar://pulsar-service:6650" }, extraGroups: ["cozebus_bridge"] });
    const by = (subject: string) => report.checks.find((c) => c.subject === subject);
    expect(report.ok).toBe(true);
    expect(by("env PULSAR_SERVICE_URL")?.message).toMatch(/never reads it/);
    expect(by("topic persistent://public/default/opencoze_knowledge")?.status).toBe("ok");
    expect(by("subscription cozebus_bridge on opencoze_knowledge")?.message).toMatch(/^Shared/);
    expect(by("subscription cg_search_app on opencoze_search_app")?.message).toMatch(/^Exclusive.*cannot join/);
    expect(by("namespace public/default retention")?.message).toMatch(/24 h/);
    expect(by("topic persistent://public/default/opencoze_knowledge-cozebus_bridge-DLQ")?.message).toMatch(/dead letters: 0/);
    await go.close();
  });
});
