/**
 * The Pulsar half against Coze's real Go client: cozego (test/go) in its
 * Pulsar mode produces and consumes as Coze's backend/infra/eventbus/impl/
 * pulsar does, on apache/pulsar-client-go v0.16.0 (the release Coze pins)
 * over the broker's binary port, while this side runs @cozebus/coze-studio
 * over the WebSocket proxy. One broker for the file; tests that need a
 * topic nobody has touched take one of their own.
 */
import { startPulsar, type PulsarBroker } from "@cozebus/testing";
import { clientsFor, resolveConfig, type PulsarWire } from "@cozebus/pulsar";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DLQ_PROP,
  checkCozeStudioPulsar,
  KNOWLEDGE,
  cozeStudioPulsar,
  deadLetterTopicOf,
  fanOutIndexDocuments,
  knowledgeEventCodec,
  knowledgeEvents,
  pulsarTopicOf,
  type CozeMessage,
  type CozeStudioPulsar,
  type CozeTopic,
  type Init,
  type KnowledgeEvent,
} from "../src/index.js";
import { freshKnowledgeTopic, topicStats, until } from "./pulsar-helpers.js";
import { BIG_ID, INT64_MAX, fullDocument, fullKnowledgeEvents } from "./fixtures.js";
import { GoConsumer, cozePulsarEnv, runGo } from "./go.js";

let broker: PulsarBroker;
let raw: { wire: PulsarWire; admin: ReturnType<typeof clientsFor>["admin"] };
const opened: CozeStudioPulsar[] = [];
const goConsumers: GoConsumer[] = [];
const errors: Error[] = [];

const goEnv = (): Record<string, string> => cozePulsarEnv(broker.serviceUrl);

async function coze(): Promise<CozeStudioPulsar> {
  const env = { COZE_MQ_TYPE: "pulsar", MQ_NAME_SERVER: broker.serviceUrl, PULSAR_WEB_SERVICE_URL: broker.webServiceUrl };
  const c = await cozeStudioPulsar({ pulsar: { env }, onError: (e) => errors.push(e) });
  opened.push(c);
  return c;
}

async function goConsumer(topic: string, group: string, ...flags: string[]): Promise<GoConsumer> {
  const g = await GoConsumer.start(["-topic", topic, "-group", group, ...flags], goEnv());
  goConsumers.push(g);
  return g;
}

/** `cozego produce` on Pulsar: lines re-marshalled from Go's structs (as Coze's services write them) unless `raw` lines are wanted. */
async function goProduce(topic: string, lines: readonly string[], opts: { key?: string; batch?: boolean; raw?: boolean } = {}): Promise<void> {
  const args = ["produce", "-topic", topic];
  if (opts.key !== undefined) args.push("-key", opts.key);
  if (opts.batch) args.push("-batch");
  if (!opts.raw) args.push("-marshal");
  const out = await runGo(args, goEnv(), lines);
  expect(out).toEqual([{ sent: lines.length }]);
}

const freshTopic = (): CozeTopic<KnowledgeEvent> => freshKnowledgeTopic("g");



/** Every message of the group acknowledged (acks travel asynchronously, so the broker's count is polled). */
async function backlogDrained(topic: string, group: string): Promise<void> {
  let backlog: number | undefined;
  const deadline = Date.now() + 10_000;
  while ((backlog = (await topicStats(broker, pulsarTopicOf(topic))).subscriptions[group]?.msgBacklog) !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(backlog, `backlog of ${group} on ${topic}`).toBe(0);
}

const json = (e: Init<KnowledgeEvent>): string => knowledgeEventCodec.encodeToString(e);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

beforeAll(async () => {
  broker = await startPulsar();
  raw = clientsFor(resolveConfig({ webServiceUrl: broker.webServiceUrl, env: {} }), (e) => errors.push(e));
}, 180_000);

afterAll(async () => {
  await Promise.all(goConsumers.map((g) => g.stop()));
  await Promise.all(opened.map((c) => c.close().catch(() => undefined)));
  await raw?.wire.close();
  await broker?.stop();
});

describe("opencoze_knowledge / cg_knowledge with Coze's Go client", () => {
  it("a Go producer -> registerConsumer: every event, bytes as Go wrote them, 64-bit ids exact, key = sharding key; a backlog kept while we are down", async () => {
    const c = await coze();
    const seen: Array<{ e: KnowledgeEvent; m: CozeMessage }> = [];
    // Our side starts first: it creates the topic and the (Shared) subscription cg_knowledge.
    let consumer = await c.registerConsumer(KNOWLEDGE, (e, m) => void seen.push({ e, m }));
    expect(consumer.group).toBe("cg_knowledge");
    const events = fullKnowledgeEvents();
    await goProduce("opencoze_knowledge", events.map(json), { key: String(BIG_ID) });
    await until(`${events.length} events from Go`, () => seen.length === events.length);
    // Go re-marshalled each line from its structs: what arrives is Go's bytes, which are ours.
    expect(seen.map((s) => text(s.m.body))).toEqual(events.map(json));
    expect(seen.map((s) => s.e)).toEqual(events.map((e) => knowledgeEventCodec.decode(knowledgeEventCodec.encode(e))));
    expect(seen[0]!.e.documents?.[2]?.id).toBe(INT64_MAX);
    expect(new Set(seen.map((s) => s.m.shardingKey))).toEqual(new Set([String(BIG_ID)]));
    // Go sets no properties: no ce-id, and nothing else either.
    expect(seen.every((s) => s.m.id === undefined && s.m.headers.entries().length === 0)).toBe(true);

    // Stopped, Go sends on; the subscription keeps it, and we get it on return.
    await consumer.stop();
    await goProduce("opencoze_knowledge", [json(knowledgeEvents.deleteKnowledgeData(BIG_ID, [INT64_MAX]))], { key: "k" });
    const before = seen.length;
    consumer = await c.registerConsumer(KNOWLEDGE, (e, m) => void seen.push({ e, m }));
    await until("the event sent while we were down", () => seen.length === before + 1);
    expect(seen.at(-1)!.e.sliceIds).toEqual([INT64_MAX]);
    await consumer.stop();
    await backlogDrained("opencoze_knowledge", "cg_knowledge");
  });

  it("our producer -> a Go consumer (Exclusive cg_knowledge): Go reads our bytes and ids exactly, the key as msg.Key(), our ce-* properties beside", async () => {
    const c = await coze();
    // The subscription is the one the test above left (Shared, no consumers): Go's Exclusive consumer may take it.
    const go = await goConsumer("opencoze_knowledge", "cg_knowledge");
    expect((await topicStats(broker, pulsarTopicOf("opencoze_knowledge"))).subscriptions["cg_knowledge"]?.type).toBe("Exclusive");
    const p = await c.producer(KNOWLEDGE);
    const events = fullKnowledgeEvents();
    for (const e of events) await p.send(e, { shardingKey: String(INT64_MAX) });
    await go.waitFor(`${events.length} events in Go`, () => go.received.length === events.length);
    expect(go.received.map((r) => r.body)).toEqual(events.map(json));
    expect(go.received.map((r) => r.echo)).toEqual(events.map(json));
    expect(go.received.every((r) => r.error === undefined && r.key === String(INT64_MAX))).toBe(true);
    expect(Object.keys(go.received[0]!.headers ?? {}).sort()).toEqual(["ce-id", "ce-source", "ce-specversion", "ce-time", "ce-type", "content-type"]);
    await go.stop();
  });
});

describe("either side first", () => {
  it("Go's consumer first (it creates the topic and its Exclusive subscription); what we send while it is down waits for it", async () => {
    const c = await coze();
    const t = freshTopic();
    const go = await goConsumer(t.topic, "cg_knowledge");
    const s = await topicStats(broker, pulsarTopicOf(t.topic));
    expect(s.subscriptions["cg_knowledge"]?.type).toBe("Exclusive");
    const partitions = await (await broker.admin(`/admin/v2/persistent/public/default/${t.topic}/partitions`)).json();
    expect(partitions).toMatchObject({ partitions: 0 });
    const p = await c.producer(t);
    await p.send(knowledgeEvents.deleteKnowledgeData(1n, [BIG_ID]));
    await go.waitFor("the first event", () => go.received.length === 1);
    await go.stop();
    await p.send(knowledgeEvents.deleteKnowledgeData(2n, [BIG_ID + 1n]));
    await p.send(knowledgeEvents.deleteKnowledgeData(3n, [BIG_ID + 2n]));
    const again = await goConsumer(t.topic, "cg_knowledge");
    await again.waitFor("the two sent while it was down", () => again.received.length === 2);
    expect(again.received.map((r) => knowledgeEventCodec.decode(r.body!).sliceIds)).toEqual([[BIG_ID + 1n], [BIG_ID + 2n]]);
    await again.stop();
  });

  it("Go's producer first (it creates the topic); our consumer then subscribes to it and receives what Go sends next", async () => {
    const c = await coze();
    const t = freshTopic();
    await goProduce(t.topic, [json(knowledgeEvents.deleteKnowledgeData(1n, []))]);
    expect((await broker.admin(`/admin/v2/persistent/public/default/${t.topic}/stats`)).status).toBe(200);
    const seen: KnowledgeEvent[] = [];
    await c.registerConsumer(t, (e) => void seen.push(e), { group: "cg_knowledge" });
    await goProduce(t.topic, [json(knowledgeEvents.deleteKnowledgeData(BIG_ID, [INT64_MAX]))]);
    // The first was sent before any subscription: kept only while the broker has not trimmed it (no retention), so not asserted.
    await until("what Go sent after we subscribed", () => seen.some((e) => e.knowledgeId === BIG_ID));
    expect(seen.find((e) => e.knowledgeId === BIG_ID)!.sliceIds).toEqual([INT64_MAX]);
  });

  it("the group cannot be shared across the sides: Go's Exclusive refuses our Shared and the reverse, both saying so; doctor names the Go-held group", async () => {
    const c = await coze();
    const t = freshTopic();
    const go = await goConsumer(t.topic, "cg_knowledge");
    await expect(c.registerConsumer(t, () => undefined, { group: "cg_knowledge" })).rejects.toThrow(/Exclusive/);
    const report = await checkCozeStudioPulsar(raw.admin, { env: goEnv(), topics: [{ topic: t.topic, group: "cg_knowledge" }] });
    expect(report.checks.find((x) => x.subject === `subscription cg_knowledge on ${t.topic}`)?.message).toMatch(/^Exclusive, 1 consumer\(s\).*Coze's Go consumer.*cannot join/);
    await go.stop();
    const ours = await c.registerConsumer(t, () => undefined, { group: "cg_knowledge" });
    await expect(goConsumer(t.topic, "cg_knowledge")).rejects.toThrow(/subscribe: .*(different type|ConsumerBusy|busy)/i);
    await ours.stop();
  });
});

describe("delivery across the Go/TypeScript boundary", () => {
  it("Go sends index_documents; our cg_knowledge fans out N index_document on the same topic; Go and we both read all N", async () => {
    const c = await coze();
    const t = freshTopic();
    const p = await c.producer(t);
    const N = 20;
    const ids = Array.from({ length: N }, (_, i) => BIG_ID + BigInt(i));
    const docs: Array<{ id: bigint; key: string | undefined }> = [];
    await c.registerConsumer(
      t,
      async (e, m) => {
        if (e.type === "index_documents") for (const f of fanOutIndexDocuments(e)) await p.send(f.event, { shardingKey: f.shardingKey });
        if (e.type === "index_document") docs.push({ id: e.document!.id, key: m.shardingKey });
      },
      { group: "cg_knowledge" },
    );
    const mirror = await goConsumer(t.topic, "cg_go_mirror");
    await goProduce(t.topic, [json(knowledgeEvents.indexDocuments(BIG_ID, ids.map((id) => fullDocument(id, BIG_ID))))], { key: String(BIG_ID) });
    await until(`${N} index_document`, () => docs.length >= N);
    await mirror.waitFor(`${N + 1} messages in Go`, () => mirror.received.length >= N + 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(docs.map((d) => d.id).sort()).toEqual(ids);
    expect(new Set(docs.map((d) => d.key))).toEqual(new Set([String(BIG_ID)]));
    expect(mirror.received.length).toBe(N + 1);
    const goDocs = mirror.received.map((r) => knowledgeEventCodec.decode(r.echo!)).filter((e) => e.type === "index_document");
    expect(goDocs.map((e) => e.document!.id).sort()).toEqual(ids);
  });

  it("we send index_documents; Go's cg_knowledge handler fans out N index_document (its <group>-producer, key = knowledge id); Go and we both read all N", async () => {
    const c = await coze();
    const t = freshTopic();
    const N = 20;
    const ids = Array.from({ length: N }, (_, i) => INT64_MAX - BigInt(i));
    const ours: Array<{ id: bigint; key: string | undefined }> = [];
    await c.registerConsumer(t, (e, m) => void (e.type === "index_document" && ours.push({ id: e.document!.id, key: m.shardingKey })), { group: "cg_mirror" });
    const go = await goConsumer(t.topic, "cg_knowledge", "-fanout");
    const p = await c.producer(t);
    await p.send(knowledgeEvents.indexDocuments(BIG_ID, ids.map((id) => fullDocument(id, BIG_ID))), { shardingKey: String(BIG_ID) });
    await go.waitFor(`the fan-out and ${N} index_document in Go`, () => go.received.length >= N + 1);
    await until(`${N} index_document here`, () => ours.length >= N);
    await new Promise((r) => setTimeout(r, 300));
    expect(go.received[0]!.fannedOut).toBe(N);
    expect(go.received.length).toBe(N + 1);
    expect(ours.map((d) => d.id).sort()).toEqual([...ids].sort());
    expect(new Set(ours.map((d) => d.key))).toEqual(new Set([String(BIG_ID)]));
  });

  it("one sharding key repeated 100 times in a BatchSend, each way: nothing lost", async () => {
    const c = await coze();
    const t = freshTopic();
    const seen: bigint[] = [];
    const ids: string[] = [];
    await c.registerConsumer(t, (e, m) => void (seen.push(e.document!.id), ids.push(m.messageId ?? "")), { group: "cg_knowledge" });
    const go = await goConsumer(t.topic, "cg_go_mirror");
    const mk = (i: number): Init<KnowledgeEvent> => knowledgeEvents.indexDocument(7n, fullDocument(10n ** 18n + BigInt(i), 7n));
    // Go's BatchSend: 100 SendAsync with the same key, batched by the client.
    await goProduce(t.topic, Array.from({ length: 100 }, (_, i) => json(mk(i))), { key: "7", batch: true });
    const p = await c.producer(t);
    const receipts = await p.sendBatch(Array.from({ length: 100 }, (_, i) => mk(100 + i)), { shardingKey: "7" });
    expect(new Set(receipts.map((r) => r.id)).size).toBe(100);
    await until("200 here", () => seen.length >= 200);
    await go.waitFor("200 in Go", () => go.received.length >= 200);
    await new Promise((r) => setTimeout(r, 300));
    const want = Array.from({ length: 200 }, (_, i) => 10n ** 18n + BigInt(i));
    expect([...seen].sort()).toEqual(want);
    // Go's client batched its SendAsync calls (ledger:entry:partition:batchIndex), and each was acknowledged on its own.
    expect(ids.slice(0, 100).some((id) => /^\d+:\d+:-?\d+:[1-9]\d*$/.test(id))).toBe(true);
    await backlogDrained(t.topic, "cg_knowledge");
    expect(go.received.map((r) => knowledgeEventCodec.decode(r.echo!).document!.id).sort()).toEqual(want);
  });

  it("malformed JSON from Go: dead-lettered at once with the reason, and the consumer reads on", async () => {
    const c = await coze();
    const t = freshTopic();
    const seen: KnowledgeEvent[] = [];
    const consumer = await c.registerConsumer(t, (e) => void seen.push(e), { group: "cg_knowledge", onError: () => undefined });
    const bad = '{"Type":"index_document","Document":';
    await goProduce(t.topic, [bad, json(knowledgeEvents.deleteKnowledgeData(BIG_ID, [BIG_ID]))], { key: "1", raw: true });
    await until("the good message after the bad one", () => seen.length === 1);
    await until("the dead letter", () => consumer.stats.deadLettered === 1);
    expect(seen[0]!.sliceIds).toEqual([BIG_ID]);
    const dl = await raw.admin.peek(deadLetterTopicOf(t.topic, "cg_knowledge"), "cozebus-dlq", 1);
    expect(text(dl!.data)).toBe(bad);
    expect(dl!.key).toBe("1");
    expect(dl!.properties[DLQ_PROP.reason]).toBe("undecodable");
    expect(dl!.properties[DLQ_PROP.error]).toMatch(/malformed JSON/);
    // Still consuming after the dead letter.
    await goProduce(t.topic, [json(knowledgeEvents.deleteKnowledgeData(2n, []))]);
    await until("a message after the dead letter", () => seen.length === 2);
  });

  it("a 64-bit id above 2^53 crosses exactly both ways (Go int64 <-> bigint)", async () => {
    const c = await coze();
    const t = freshTopic();
    const ids = [BIG_ID, INT64_MAX, 2n ** 62n + 3n];
    const seen: KnowledgeEvent[] = [];
    await c.registerConsumer(t, (e) => void seen.push(e), { group: "cg_knowledge" });
    const go = await goConsumer(t.topic, "cg_go_mirror");
    await goProduce(t.topic, [json(knowledgeEvents.deleteKnowledgeData(BIG_ID, ids))]);
    const p = await c.producer(t);
    await p.send(knowledgeEvents.indexDocument(INT64_MAX, fullDocument(BIG_ID, INT64_MAX)));
    await until("both here", () => seen.length === 2);
    await go.waitFor("both in Go", () => go.received.length === 2);
    expect(seen[0]!.sliceIds).toEqual(ids);
    expect(seen[0]!.knowledgeId).toBe(BIG_ID);
    expect(seen[1]!.document!.id).toBe(BIG_ID);
    // Go's echo is its own json.Marshal of the int64 it read: the digits, not 9007199254740992.
    expect(go.received[1]!.echo).toContain(`"ID":${BIG_ID}`);
    expect(go.received[1]!.echo).toContain(`"KnowledgeID":${INT64_MAX}`);
    expect(knowledgeEventCodec.decode(go.received[1]!.echo!).document!.id).toBe(BIG_ID);
    expect(go.received[0]!.echo).toContain(`[${ids.join(",")}]`);
  });
});
