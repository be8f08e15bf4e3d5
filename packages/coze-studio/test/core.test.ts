/**
 * Core mode (NATS_USE_JETSTREAM unset or false): queue subscriptions named
 * after the group on the bare topic, shared with Coze's Go core consumers.
 */
import { NonRetryableError, RetryableError } from "@cozebus/nats";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KNOWLEDGE, SEARCH_RESOURCE, isCozeStudioError, knowledgeEventCodec, knowledgeEvents, resourceEventCodec, type CozeMessage, type KnowledgeEvent } from "../src/index.js";
import { BIG_ID, INT64_MAX, fullDocument } from "./fixtures.js";
import { GoConsumer, runGo } from "./go.js";
import { World, waitFor } from "./helpers.js";

let world: World;
const gos: GoConsumer[] = [];

beforeEach(async () => {
  world = await World.start(false);
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

const codes = (): string[] => world.errors.map((e) => (e as { code?: string }).code ?? e.name);

describe("core NATS with Coze's Go services", () => {
  it("cozebus -> Go: the bare topic, Go's structs read it, the sharding key in the header Go's core producer uses", async () => {
    const go = await goConsumer(["-topic", "opencoze_search_resource", "-group", SEARCH_RESOURCE.group]);
    const coze = await world.coze();
    const producer = await coze.producer(SEARCH_RESOURCE);
    expect(producer.mode).toBe("core");
    await producer.send({ opType: "created", resourceDocument: { resId: BIG_ID, resType: 2, name: "wf" } }, { shardingKey: "42" });
    await go.waitFor("Go to receive it", () => go.received.length === 1);
    expect(go.received[0]!.echo).toBe(go.received[0]!.body);
    expect(go.received[0]!.body).toContain(`"res_id":${BIG_ID}`);
    expect(go.received[0]!.headers?.["Sharding-Key"]).toBe("42");
  });

  it("Go -> cozebus: decoded with exact ids, Go's Sharding-Key visible", async () => {
    const coze = await world.coze();
    const got: Array<[KnowledgeEvent, CozeMessage]> = [];
    await coze.registerConsumer(KNOWLEDGE, (e, m) => void got.push([e, m]));
    await runGo(["produce", "-topic", "opencoze_knowledge", "-key", "9"], world.env, [knowledgeEventCodec.encodeToString(knowledgeEvents.indexDocument(BIG_ID, fullDocument(INT64_MAX, BIG_ID)))]);
    await waitFor("the event", () => got.length === 1);
    const [event, msg] = got[0]!;
    expect(event.document?.id).toBe(INT64_MAX);
    expect(event.knowledgeId).toBe(BIG_ID);
    expect(msg).toMatchObject({ topic: "opencoze_knowledge", group: "cg_knowledge", shardingKey: "9", attempt: 1, id: undefined });
  });

  it("one queue group across Go and cozebus: each message handled exactly once", async () => {
    const go = await goConsumer(["-topic", "opencoze_knowledge", "-group", KNOWLEDGE.group]);
    const coze = await world.coze();
    const ours: bigint[] = [];
    await coze.registerConsumer(KNOWLEDGE, (e) => void ours.push(e.knowledgeId), { concurrency: 4 });
    const producer = await coze.producer(KNOWLEDGE);
    const n = 60;
    await producer.sendBatch(Array.from({ length: n }, (_, i) => knowledgeEvents.deleteKnowledgeData(BigInt(i), [])));
    await waitFor("all messages handled once", () => ours.length + go.received.length === n);
    const theirs = go.received.map((r) => knowledgeEventCodec.decode(r.body!).knowledgeId);
    const all = [...ours, ...theirs].map(Number).sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: n }, (_, i) => i));
  });
});

describe("core failures (no redelivery in core NATS)", () => {
  it("malformed JSON is reported as a DecodeError and the consumer goes on", async () => {
    const coze = await world.coze();
    const seen: bigint[] = [];
    const consumer = await coze.registerConsumer(KNOWLEDGE, (e) => void seen.push(e.knowledgeId));
    await runGo(["produce", "-topic", "opencoze_knowledge"], world.env, ["{oops", '{"Type":"index_document","KnowledgeID":5}']);
    await waitFor("the valid one", () => seen.length === 1);
    expect(seen).toEqual([5n]);
    const decode = world.errors.find((e) => e.name === "DecodeError");
    expect(decode?.message).toMatch(/cannot decode the event on "opencoze_knowledge": malformed JSON at offset 1/);
    expect(consumer.stats).toMatchObject({ handled: 1, deadLettered: 1 });
  });

  it("a failing handler is retried in place with backoff; it succeeds on the third attempt", async () => {
    const coze = await world.coze();
    const attempts: number[] = [];
    const consumer = await coze.registerConsumer(
      KNOWLEDGE,
      (_e, m) => {
        attempts.push(m.attempt);
        if (m.attempt < 3) throw new RetryableError("es down", 5);
      },
      { retry: { maxDeliveries: 3 } },
    );
    await (await coze.producer(KNOWLEDGE)).send(knowledgeEvents.deleteKnowledgeData(1n, []));
    await waitFor("the success", () => consumer.stats.handled === 1);
    expect(attempts).toEqual([1, 2, 3]);
    expect(consumer.stats.retried).toBe(2);
  });

  it("after the last attempt it is reported as DeliveryFailedError", async () => {
    const coze = await world.coze();
    const consumer = await coze.registerConsumer(
      KNOWLEDGE,
      () => {
        throw new Error("es down");
      },
      { retry: { maxDeliveries: 2, backoff: { initialMs: 5, maxMs: 5 } } },
    );
    await (await coze.producer(KNOWLEDGE)).send(knowledgeEvents.deleteKnowledgeData(1n, []));
    await waitFor("the give-up", () => consumer.stats.deadLettered === 1);
    const failed = world.errors.find((e) => isCozeStudioError(e, "COZE_DELIVERY_FAILED"));
    expect(failed?.message).toMatch(/failed 2 time\(s\) and is dropped: core NATS cannot redeliver; use NATS_USE_JETSTREAM=true .*es down/);
  });

  it("a NonRetryableError drops the message at once, reported", async () => {
    const coze = await world.coze();
    const consumer = await coze.registerConsumer(KNOWLEDGE, () => {
      throw new NonRetryableError("knowledge deleted");
    });
    await (await coze.producer(KNOWLEDGE)).send(knowledgeEvents.deleteKnowledgeData(1n, []));
    await waitFor("the drop", () => consumer.stats.dropped === 1);
    expect(codes()).toContain("COZE_EVENT_DROPPED");
    expect(consumer.stats.retried).toBe(0);
  });

  it("an unknown op_type is reported as an unknown event, not handled", async () => {
    const coze = await world.coze();
    const seen: unknown[] = [];
    await coze.registerConsumer(SEARCH_RESOURCE, (e) => void seen.push(e));
    await runGo(["produce", "-topic", "opencoze_search_resource"], world.env, ['{"op_type":"archived"}', resourceEventCodec.encodeToString({ opType: "deleted" })]);
    await waitFor("the known one", () => seen.length === 1);
    expect(codes()).toContain("UNKNOWN_EVENT");
  });
});
