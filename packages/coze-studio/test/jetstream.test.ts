/**
 * JetStream mode (NATS_USE_JETSTREAM=true) against a real nats-server and a
 * Go process that produces and consumes as Coze Studio's Go services do
 * (test/go): same names, same settings, same JSON, either side first.
 */
import { NonRetryableError, RetryableError, type Bus } from "@cozebus/nats";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  KNOWLEDGE,
  SEARCH_APP,
  SEARCH_RESOURCE,
  projectEventCodec,
  resourceEventCodec,
  checkCozeStudio,
  fanOutIndexDocuments,
  goStreamConfig,
  isCozeStudioError,
  knowledgeEventCodec,
  knowledgeEvents,
  type CozeMessage,
  type KnowledgeEvent,
} from "../src/index.js";
import { BIG_ID, INT64_MAX, fullDocument } from "./fixtures.js";
import { GoConsumer, runGo } from "./go.js";
import { World, text, waitFor } from "./helpers.js";

const TOPIC = "opencoze_knowledge";
const STREAM = "opencoze_knowledge_STREAM";

let world: World;
const gos: GoConsumer[] = [];

beforeEach(async () => {
  world = await World.start(true);
});

afterEach(async () => {
  await Promise.all(gos.splice(0).map((g) => g.stop()));
  await world.stop();
});

async function goConsumer(args: string[]): Promise<GoConsumer> {
  const g = await GoConsumer.start(args, world.env);
  gos.push(g);
  return g;
}

const goProduce = (lines: string[], ...flags: string[]) => runGo(["produce", "-topic", TOPIC, ...flags], world.env, lines);

async function streamConfig(bus: Bus, name = STREAM): Promise<Record<string, unknown>> {
  const js = await bus.jetstream();
  const { created: _c, metadata: _m, ...config } = (await js.jsm.streams.info(name)).config as unknown as Record<string, unknown>;
  return config;
}

async function storedCount(bus: Bus, name = STREAM): Promise<number> {
  return (await (await bus.jetstream()).jsm.streams.info(name)).state.messages;
}

describe("either side first", () => {
  it("Go first: cozebus sends into Go's stream and Go receives every message with exact 64-bit ids", async () => {
    const go = await goConsumer(["-topic", TOPIC, "-group", KNOWLEDGE.group]);
    const coze = await world.coze();
    const bus = coze.bus;
    expect(await streamConfig(bus)).toMatchObject(goStreamConfig(TOPIC));

    const producer = await coze.producer(KNOWLEDGE);
    const receipt = await producer.send(knowledgeEvents.indexDocument(BIG_ID, fullDocument(INT64_MAX, BIG_ID)), { shardingKey: String(BIG_ID) });
    expect(receipt).toMatchObject({ topic: TOPIC, stream: STREAM, seq: 1, duplicate: false });

    await go.waitFor("Go to receive the event", () => go.received.length === 1);
    const got = go.received[0]!;
    // Go decoded it into Coze's structs and wrote back the bytes cozebus sent: the same JSON, ids exact.
    expect(got.echo).toBe(got.body);
    expect(got.body).toContain(`"ID":${INT64_MAX}`);
    expect(got.body).toContain(`"KnowledgeID":${BIG_ID}`);
    // Headers Go ignores; the id is unique, not derived from the sharding key.
    expect(got.headers).toMatchObject({ "Sharding-Key": String(BIG_ID), "Nats-Msg-Id": receipt.id, "content-type": "application/json", "ce-type": "coze-studio.opencoze_knowledge.index_document" });
    expect(receipt.id).not.toMatch(new RegExp(`^${BIG_ID}-`));
  });

  it("cozebus first: Go sends into cozebus's stream, cozebus receives; then Go binds to cozebus's durable consumer", async () => {
    const coze = await world.coze();
    const seen: KnowledgeEvent[] = [];
    const consumer = await coze.registerConsumer(KNOWLEDGE, (e) => void seen.push(e));
    expect(await streamConfig(coze.bus)).toMatchObject(goStreamConfig(TOPIC));

    const sent = knowledgeEventCodec.encodeToString(knowledgeEvents.deleteKnowledgeData(BIG_ID, [BIG_ID, INT64_MAX]));
    await goProduce([sent], "-key", String(BIG_ID));
    await waitFor("cozebus to receive Go's event", () => seen.length === 1);
    expect(seen[0]).toMatchObject({ type: "delete_knowledge_data", knowledgeId: BIG_ID, sliceIds: [BIG_ID, INT64_MAX] });
    await consumer.stop();

    // The consumer cozebus created (filter = the topic, explicit acks) is one Go's PullSubscribe binds to.
    const go = await goConsumer(["-topic", TOPIC, "-group", KNOWLEDGE.group]);
    await goProduce([knowledgeEventCodec.encodeToString(knowledgeEvents.indexDocument(1n, fullDocument(2n, 1n)))]);
    await go.waitFor("Go to receive on cozebus's consumer", () => go.received.length === 1);
    expect(go.received[0]!.echo).toBe(go.received[0]!.body);
    const info = await (await coze.bus.jetstream()).jsm.consumers.info(STREAM, KNOWLEDGE.group);
    expect(info.config).toMatchObject({ durable_name: "cg_knowledge", filter_subject: TOPIC, ack_policy: "explicit", deliver_policy: "all", max_deliver: 5 });
  });

  it("all three topics: Go's consumers of each group receive what cozebus sends, and cozebus what Go sends", async () => {
    const coze = await world.coze();
    const topics = [
      { def: SEARCH_RESOURCE, line: resourceEventCodec.encodeToString({ opType: "updated", resourceDocument: { resId: BIG_ID, resType: 7 }, extra: { k: "v" } }) },
      { def: SEARCH_APP, line: projectEventCodec.encodeToString({ opType: "created", projectDocument: { id: BIG_ID, type: 2, name: "app" } }) },
      { def: KNOWLEDGE, line: knowledgeEventCodec.encodeToString(knowledgeEvents.deleteKnowledgeData(BIG_ID, [1n])) },
    ];
    for (const { def, line } of topics) {
      const go = await goConsumer(["-topic", def.topic, "-group", def.group]);
      const raw = await coze.producer(def.topic);
      await raw.send(line);
      await go.waitFor(`Go to receive on ${def.topic}`, () => go.received.length === 1);
      expect(go.received[0]!.echo).toBe(line);
      await go.stop();
      const got: string[] = [];
      const c = await coze.registerConsumer(def.topic, def.group, (m) => void got.push(text(m.body)));
      await runGo(["produce", "-topic", def.topic], world.env, [line]);
      await waitFor(`cozebus to receive on ${def.topic}`, () => got.length === 1);
      expect(got).toEqual([line]);
      await c.stop();
    }
  });

  it("the stream is the same whichever side creates it", async () => {
    const other = await World.start(true);
    try {
      await runGo(["produce", "-topic", TOPIC], other.env, ["{}"]); // Go's ensureStream on its first send
      const goBus = await other.bus();
      const coze = await world.coze();
      await coze.provision([KNOWLEDGE, SEARCH_APP]);
      expect(await streamConfig(coze.bus)).toEqual(await streamConfig(goBus));
      expect(await streamConfig(coze.bus, "opencoze_search_app_STREAM")).toMatchObject(goStreamConfig("opencoze_search_app"));
    } finally {
      await other.stop();
    }
  });
});

describe("message ids", () => {
  it("keeps every message that repeats a sharding key within two minutes; Coze's Go producer keeps one", async () => {
    const coze = await world.coze();
    const producer = await coze.producer(KNOWLEDGE);
    const events = [1n, 2n, 3n].map((id) => knowledgeEvents.indexDocument(7n, fullDocument(id, 7n)));
    await producer.sendBatch(events, { shardingKey: "7" });
    await producer.send(events[0]!, { shardingKey: "7" });
    await producer.send(events[0]!, { shardingKey: "7" });
    expect(await storedCount(coze.bus)).toBe(5);

    // The same with Coze's Go producer (Nats-Msg-Id "7-0" each time): the stream drops all but the first.
    const lines = events.map((e) => knowledgeEventCodec.encodeToString(e));
    await goProduce(lines, "-key", "7");
    expect(await storedCount(coze.bus)).toBe(6);

    const got: bigint[] = [];
    await coze.registerConsumer(KNOWLEDGE, (e) => void got.push(e.document!.id));
    await waitFor("all six stored events", () => got.length === 6);
    expect(got).toEqual([1n, 2n, 3n, 1n, 1n, 1n]);
  });

  it("a resend with the same id is stored once", async () => {
    const coze = await world.coze();
    const producer = await coze.producer("opencoze_knowledge");
    const first = await producer.send("{}", { id: "retry-1" });
    const again = await producer.send("{}", { id: "retry-1" });
    expect(again).toMatchObject({ id: "retry-1", seq: first.seq, duplicate: true });
    await expect(producer.sendBatch(["{}", "{}"], { id: "x" })).rejects.toThrow(/one id cannot name several messages/);
  });
});

describe("the knowledge fan-out", () => {
  it("one index_documents becomes one index_document per document on the same topic, none lost", async () => {
    const audit = await goConsumer(["-topic", TOPIC, "-group", "cg_audit"]); // another group: sees everything on the topic
    const coze = await world.coze();
    const producer = await coze.producer(KNOWLEDGE);
    const indexed: bigint[] = [];
    await coze.registerConsumer(
      KNOWLEDGE,
      async (e) => {
        if (e.type === "index_documents") {
          for (const { event, shardingKey } of fanOutIndexDocuments(e)) await producer.send(event, { shardingKey });
        } else if (e.type === "index_document") indexed.push(e.document!.id);
      },
      { concurrency: 4 },
    );
    const docs = [BIG_ID, BIG_ID + 1n, BIG_ID + 2n, INT64_MAX].map((id) => fullDocument(id, BIG_ID));
    await goProduce([knowledgeEventCodec.encodeToString(knowledgeEvents.indexDocuments(BIG_ID, docs))]);

    await waitFor("every document indexed", () => indexed.length === 4);
    expect(indexed.sort()).toEqual([BIG_ID, BIG_ID + 1n, BIG_ID + 2n, INT64_MAX].sort());
    await audit.waitFor("Go to see the fan-out", () => audit.received.length === 5);
    const types = audit.received.map((r) => knowledgeEventCodec.decode(r.body!).type);
    expect(types.filter((t) => t === "index_document")).toHaveLength(4);
    expect(new Set(audit.received.map((r) => r.headers?.["Sharding-Key"]).filter(Boolean))).toEqual(new Set([String(BIG_ID)]));
  });

  it("for comparison: Coze's own Go fan-out stores only the first index_document (they share one Nats-Msg-Id)", async () => {
    const go = await goConsumer(["-topic", TOPIC, "-group", KNOWLEDGE.group, "-fanout"]);
    const docs = [1n, 2n, 3n].map((id) => fullDocument(id, 42n));
    await goProduce([knowledgeEventCodec.encodeToString(knowledgeEvents.indexDocuments(42n, docs))]);
    await go.waitFor("Go's fan-out", () => go.received.some((r) => r.fannedOut === 3));
    const bus = await world.bus();
    expect(await storedCount(bus)).toBe(2); // the index_documents and one index_document, not three
  });
});

describe("failures", () => {
  it("malformed JSON goes to the dead letters with the reason; the consumer goes on", async () => {
    const coze = await world.coze();
    const seen: bigint[] = [];
    const consumer = await coze.registerConsumer(KNOWLEDGE, (e) => void seen.push(e.knowledgeId));
    await goProduce(['{"Type":"index_document",', '{"Type":"index_document","KnowledgeID":"1"}', '{"Type":"index_document","KnowledgeID":3}']);
    await waitFor("the valid event", () => seen.length === 1);
    const js = await coze.bus.jetstream();
    await waitFor("two dead letters", async () => (await js.deadLetters.count()) === 2);
    const letters = await js.deadLetters.list();
    expect(letters.map((l) => l.reason)).toEqual(["undecodable", "undecodable"]);
    expect(letters[0]!.error).toMatch(/malformed JSON at offset 25/);
    expect(letters[1]!.error).toMatch(/\$\.KnowledgeID: expected an int64 \(an integer literal\), got string "1"/);
    expect(text(letters[0]!.data)).toBe('{"Type":"index_document",');
    expect(letters[0]).toMatchObject({ stream: STREAM, consumer: "cg_knowledge", deliveries: 1 });
    expect(seen).toEqual([3n]);
    expect(consumer.stats).toMatchObject({ handled: 1, deadLettered: 2 });
  });

  it("a failing handler is retried with backoff, then dead-lettered after maxDeliveries", async () => {
    const coze = await world.coze();
    const attempts: number[] = [];
    await coze.registerConsumer(
      KNOWLEDGE,
      (_e, msg) => {
        attempts.push(msg.attempt);
        throw new RetryableError("search store down", 20);
      },
      { retry: { maxDeliveries: 3 } },
    );
    await (await coze.producer(KNOWLEDGE)).send(knowledgeEvents.deleteKnowledgeData(1n, [2n]));
    const js = await coze.bus.jetstream();
    await waitFor("the dead letter", async () => (await js.deadLetters.count()) === 1);
    expect(attempts).toEqual([1, 2, 3]);
    const [letter] = await js.deadLetters.list();
    expect(letter).toMatchObject({ reason: "max-deliveries", deliveries: 3 });
    expect(letter!.error).toMatch(/search store down/);
  });

  it("a NonRetryableError is acked and dropped as Coze's knowledge handler does, and reported", async () => {
    const coze = await world.coze();
    const attempts: number[] = [];
    const consumer = await coze.registerConsumer(KNOWLEDGE, (_e, msg) => {
      attempts.push(msg.attempt);
      throw new NonRetryableError("document not writable");
    });
    await (await coze.producer(KNOWLEDGE)).send(knowledgeEvents.deleteKnowledgeData(1n, [2n]));
    await waitFor("the drop", () => consumer.stats.dropped === 1);
    const dropped = world.errors.find((e) => isCozeStudioError(e, "COZE_EVENT_DROPPED"));
    expect(dropped?.message).toMatch(/opencoze_knowledge \(group cg_knowledge\) dropped: .*document not writable/);
    const js = await coze.bus.jetstream();
    await waitFor("the ack", async () => (await js.jsm.consumers.info(STREAM, "cg_knowledge")).num_ack_pending === 0);
    expect(attempts).toEqual([1]);
    expect(await js.deadLetters.count()).toBe(0);
  });

  it('nonRetryable: "dead-letter" keeps it in the dead letters instead', async () => {
    const coze = await world.coze();
    await coze.registerConsumer(
      KNOWLEDGE,
      () => {
        throw new NonRetryableError("document not writable");
      },
      { nonRetryable: "dead-letter" },
    );
    await (await coze.producer(KNOWLEDGE)).send(knowledgeEvents.deleteKnowledgeData(1n, [2n]));
    const js = await coze.bus.jetstream();
    await waitFor("the dead letter", async () => (await js.deadLetters.count()) === 1);
    expect((await js.deadLetters.list())[0]).toMatchObject({ reason: "non-retryable", deliveries: 1 });
  });

  it("an event type this build does not know is handed back, then dead-lettered as unknown-event, never acked away", async () => {
    const coze = await world.coze();
    const handled: KnowledgeEvent[] = [];
    await coze.registerConsumer(KNOWLEDGE, (e) => void handled.push(e), { retry: { maxDeliveries: 2, backoff: { initialMs: 10, maxMs: 10 } } });
    await goProduce(['{"Type":"reindex_everything","KnowledgeID":1}']);
    const js = await coze.bus.jetstream();
    await waitFor("the dead letter", async () => (await js.deadLetters.count()) === 1);
    const [letter] = await js.deadLetters.list();
    expect(letter).toMatchObject({ reason: "unknown-event", deliveries: 2 });
    expect(letter!.error).toMatch(/Type=reindex_everything/);
    expect(handled).toEqual([]);
  });

  it("Go consumers of a group cozebus provisioned stop looping on a poison message: it ends in the dead letters", async () => {
    const coze = await world.coze();
    // A cozebus instance of the group that fails too, so whoever pulls it, it runs out of deliveries.
    await coze.registerConsumer(
      KNOWLEDGE,
      () => {
        throw new Error("cannot index");
      },
      { retry: { maxDeliveries: 4, backoff: { initialMs: 10, maxMs: 10 } } },
    );
    const go = await goConsumer(["-topic", TOPIC, "-group", KNOWLEDGE.group, "-fail"]);
    await goProduce([knowledgeEventCodec.encodeToString(knowledgeEvents.deleteKnowledgeData(1n, [2n]))]);
    const js = await coze.bus.jetstream();
    await waitFor("the dead letter", async () => (await js.deadLetters.count()) === 1);
    const [letter] = await js.deadLetters.list();
    expect(["max-deliveries", "abandoned"]).toContain(letter!.reason);
    const info = await js.jsm.consumers.info(STREAM, KNOWLEDGE.group);
    expect(info.num_pending + info.num_ack_pending).toBe(0);
    // Go saw it at most max_deliver times, not forever.
    expect(go.received.length).toBeLessThanOrEqual(4);
  });

  it("a handler longer than the ack wait is kept alive with in-progress acks and runs once", async () => {
    const coze = await world.coze();
    const runs: CozeMessage[] = [];
    await coze.registerConsumer(
      KNOWLEDGE,
      async (_e, msg) => {
        runs.push(msg);
        await new Promise((r) => setTimeout(r, 3500));
      },
      { retry: { ackWaitMs: 1000 } },
    );
    await (await coze.producer(KNOWLEDGE)).send(knowledgeEvents.deleteKnowledgeData(1n, [2n]));
    const js = await coze.bus.jetstream();
    await waitFor("the ack", async () => (await js.jsm.consumers.info(STREAM, "cg_knowledge")).ack_floor.stream_seq === 1);
    expect(runs.map((m) => m.attempt)).toEqual([1]);
  });
});

describe("unknown fields", () => {
  it("a field only a newer Coze knows survives a pass through cozebus", async () => {
    const go = await goConsumer(["-topic", TOPIC, "-group", "cg_audit"]);
    const coze = await world.coze();
    const producer = await coze.producer(KNOWLEDGE);
    const forwarded: KnowledgeEvent[] = [];
    await coze.registerConsumer(
      KNOWLEDGE,
      async (e) => {
        if (e.knowledgeId !== 1n) return;
        forwarded.push(e);
        await producer.send({ ...e, knowledgeId: 2n });
      },
      { group: "cg_forward" },
    );
    await goProduce(['{"Type":"index_document","KnowledgeID":1,"Document":{"ID":5,"NewField":{"x":[1,2]}},"Priority":9007199254740993}']);
    await go.waitFor("the forwarded copy", () => go.received.length === 2);
    expect(forwarded[0]!.unknownFields).toEqual({ Priority: BIG_ID });
    const copy = go.received[1]!.body!;
    expect(copy).toContain('"NewField":{"x":[1,2]}');
    expect(copy).toMatch(/"Priority":9007199254740993}$/);
    expect(copy).toContain('"KnowledgeID":2');
  });
});

describe("raw bytes and batches", () => {
  it("a raw producer and consumer pass bytes unchanged", async () => {
    const coze = await world.coze();
    const got: CozeMessage[] = [];
    await coze.registerConsumer("opencoze_knowledge", "cg_raw", (m) => void got.push(m));
    const producer = await coze.producer("opencoze_knowledge");
    const receipts = await producer.sendBatch(["a", new Uint8Array([0xff, 0x00])], { shardingKey: "k" });
    expect(receipts.map((r) => r.seq)).toEqual([1, 2]);
    await waitFor("both", () => got.length === 2);
    expect(got.map((m) => [...m.body])).toEqual([[0x61], [0xff, 0x00]]);
    expect(got[0]).toMatchObject({ topic: "opencoze_knowledge", group: "cg_raw", shardingKey: "k", attempt: 1, stream: STREAM, sequence: 1, id: receipts[0]!.id });
  });

  it("a message above the server's max_payload is refused at once and nothing of its batch is sent", async () => {
    const coze = await world.coze();
    const producer = await coze.producer("opencoze_knowledge");
    await expect(producer.sendBatch(["a", "x".repeat(2 * 1024 * 1024)])).rejects.toSatisfy((e) => isCozeStudioError(e, "COZE_PAYLOAD_TOO_LARGE") && /2097152-byte message to opencoze_knowledge exceeds the server's max_payload of 1048576/.test((e as Error).message));
    expect(await storedCount(coze.bus)).toBe(0);
  });

  it("a batch the stream refuses says which messages were not sent", async () => {
    const coze = await world.coze();
    const producer = await coze.producer(KNOWLEDGE);
    await (await coze.bus.jetstream()).jsm.streams.delete(STREAM); // an operator removed it under a running service
    let err: unknown;
    try {
      await producer.sendBatch([knowledgeEvents.deleteKnowledgeData(1n, []), knowledgeEvents.deleteKnowledgeData(2n, [])]);
    } catch (e) {
      err = e;
    }
    expect(isCozeStudioError(err, "COZE_SEND_FAILED")).toBe(true);
    const failed = err as { failures: Array<{ index: number; error: Error }>; receipts: unknown[] };
    expect(failed.failures.map((f) => [f.index, (f.error as { code?: string }).code])).toEqual([
      [0, "NO_STREAM"],
      [1, "NO_STREAM"],
    ]);
    expect(failed.receipts).toEqual([undefined, undefined]);
  });
});

describe("checkCozeStudio (for cozebus doctor)", () => {
  it("reports Go's stream and consumer as Coze creates them, and what cozebus changes", async () => {
    const go = await goConsumer(["-topic", TOPIC, "-group", KNOWLEDGE.group]);
    await go.stop();
    const bus = await world.bus();
    let report = await checkCozeStudio(bus, { env: world.env, topics: [KNOWLEDGE] });
    expect(report.ok).toBe(true);
    expect(report.checks).toContainEqual({ status: "ok", subject: `stream ${STREAM}`, message: "exactly the config Coze's Go code creates" });
    expect(report.checks).toContainEqual({ status: "ok", subject: `consumer ${STREAM}/cg_knowledge`, message: "as nats.go creates it" });
    expect(report.checks).toContainEqual(expect.objectContaining({ status: "info", subject: "stream COZE_DLQ" }));

    const coze = await world.coze();
    await coze.registerConsumer(KNOWLEDGE, () => undefined);
    report = await checkCozeStudio(bus, { env: world.env, topics: [KNOWLEDGE] });
    const consumer = report.checks.find((c) => c.subject === `consumer ${STREAM}/cg_knowledge`);
    expect(consumer).toMatchObject({ status: "info", message: expect.stringMatching(/max_deliver 5 \(Go's default: unlimited\), set by cozebus: it applies to Go instances/) });
    expect(report.checks).toContainEqual(expect.objectContaining({ status: "ok", subject: "stream COZE_DLQ" }));
  });

  it("fails a stream or consumer Coze's Go code could not use", async () => {
    const bus = await world.bus();
    const js = await bus.jetstream();
    await js.jsm.streams.add({ name: STREAM, subjects: [TOPIC, "other"], storage: "memory", max_age: 3600e9 });
    await js.jsm.consumers.add(STREAM, { durable_name: "cg_knowledge", ack_policy: "explicit", filter_subject: "other" });
    const report = await checkCozeStudio(bus, { env: world.env, topics: [KNOWLEDGE] });
    expect(report.ok).toBe(false);
    const stream = report.checks.find((c) => c.subject === `stream ${STREAM}`)!;
    expect(stream.status).toBe("warn");
    expect(stream.message).toMatch(/storage is "memory" \(Go creates "file"\)/);
    expect(stream.message).toMatch(/max_age is 3600000000000 \(Go creates 86400000000000\)/);
    expect(report.checks.find((c) => c.subject === `consumer ${STREAM}/cg_knowledge`)).toMatchObject({ status: "fail", message: expect.stringMatching(/its filter is other: Coze's PullSubscribe\(opencoze_knowledge\) refuses it/) });
  });
});
