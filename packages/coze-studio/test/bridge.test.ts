/**
 * The bridge on a real nats-server: legacy JetStream topics in, typed
 * @cozebus/knowledge events out on the same server (its Bus as the typed
 * transport). Pulsar's legacy side is in pulsar.test.ts, core NATS's in bridge-core.test.ts.
 */
import { knowledge, type KnowledgeEvent as TypedKnowledgeEvent } from "@cozebus/knowledge";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  KNOWLEDGE,
  SEARCH_APP,
  SEARCH_RESOURCE,
  bridgeCozeStudio,
  bridgedEventId,
  knowledgeEvents,
  streamNameOf,
  type CozeStudio,
} from "../src/index.js";
import { BIG_ID, INT64_MAX, fullDocument } from "./fixtures.js";
import { World, waitFor } from "./helpers.js";

let world: World;
beforeEach(async () => {
  world = await World.start(true);
});
afterEach(async () => {
  await world.stop();
});

/** A typed subscriber on the bridge's output: every delivery, with its ce-id. */
async function typedLog(): Promise<Array<{ type: string; id: string; event: unknown }>> {
  const bus = await world.bus();
  const seen: Array<{ type: string; id: string; event: unknown }> = [];
  const kb = knowledge(bus);
  await kb.provision();
  await kb.subscribeAll((e: TypedKnowledgeEvent) => void seen.push({ type: e.type, id: e.ctx.id, event: e.event }), { group: "typed_check", concurrency: 8 });
  return seen;
}

async function legacy(): Promise<CozeStudio> {
  return world.coze();
}

describe("bridgeCozeStudio (NATS JetStream legacy side)", () => {
  it("turns each legacy kind into its typed event, counts what has none, dead-letters malformed JSON", async () => {
    const seen = await typedLog();
    const coze = await legacy();
    const pk = await coze.producer(KNOWLEDGE);
    const docs = [fullDocument(BIG_ID + 1n, BIG_ID), fullDocument(INT64_MAX, BIG_ID)];
    const r1 = await pk.send(knowledgeEvents.indexDocuments(BIG_ID, docs), { shardingKey: String(BIG_ID) });
    await pk.send(knowledgeEvents.indexDocument(BIG_ID, docs[1]!), { shardingKey: String(BIG_ID) });
    await pk.send(knowledgeEvents.indexSlice({ id: 77n, knowledgeId: BIG_ID, documentId: INT64_MAX, rawContent: [{ type: 0, text: "hello" }] }, docs[1]!));
    await pk.send(knowledgeEvents.documentReview(docs[0]!, { reviewId: 9n, documentName: "d", documentType: "pdf", uri: "u", url: "" }));
    await pk.send(knowledgeEvents.deleteKnowledgeData(BIG_ID, [1n, 2n]));
    await (await coze.producer("opencoze_knowledge")).send("{not json");
    await (await coze.producer(SEARCH_RESOURCE)).send({ opType: "created", resourceDocument: { resType: 1, resId: 5n } });
    await (await coze.producer(SEARCH_APP)).send({ opType: "updated", projectDocument: { id: 6n, type: 1, status: 1 } });

    const bridge = await bridgeCozeStudio({ from: coze, to: await world.bus(), onError: () => undefined });
    await waitFor("everything settled", () => bridge.stats.received === 7 && bridge.stats.deadLettered === 1, 20_000);
    expect(bridge.stats.bridged).toEqual({ indexDocumentsRequested: 1, indexDocumentRequested: 1, indexSliceRequested: 1, documentReviewRequested: 1 });
    expect(bridge.stats.skipped).toEqual({ "opencoze_knowledge.delete_knowledge_data": 1, "opencoze_search_resource.created": 1, "opencoze_search_app.updated": 1 });
    await waitFor("4 typed events", () => seen.length >= 4, 10_000);
    const batch = seen.find((s) => s.type === "indexDocumentsRequested")!;
    // ce-id from the legacy stream + sequence: deterministic.
    expect(batch.id).toBe(bridgedEventId(`nats-jetstream/${streamNameOf("opencoze_knowledge")}/${r1.seq}`));
    const ev = batch.event as { knowledgeId: bigint; documents: Array<{ documentId: bigint; source?: { kind?: { $case: string; value: string } } }> };
    expect(ev.knowledgeId).toBe(BIG_ID);
    expect(ev.documents.map((d) => d.documentId)).toEqual([BIG_ID + 1n, INT64_MAX]);
    expect(ev.documents[0]!.source?.kind).toEqual({ $case: "text", value: "raw" });
    const slice = seen.find((s) => s.type === "indexSliceRequested")!.event as { sliceId: bigint; documentId: bigint; content: string };
    expect(slice).toMatchObject({ sliceId: 77n, documentId: INT64_MAX, content: "hello" });
    await bridge.stop();
  });

  it("is idempotent: the same legacy messages bridged again (a second bridge group) are one typed event each", async () => {
    const seen = await typedLog();
    const coze = await legacy();
    const pk = await coze.producer(KNOWLEDGE);
    const N = 20;
    await pk.sendBatch(Array.from({ length: N }, (_, i) => knowledgeEvents.indexDocument(BIG_ID, fullDocument(BIG_ID + BigInt(i), BIG_ID))), { shardingKey: String(BIG_ID) });
    const to = await world.bus();
    const first = await bridgeCozeStudio({ from: coze, to });
    await waitFor("first pass", () => first.stats.bridged["indexDocumentRequested"] === N, 20_000);
    const again = await bridgeCozeStudio({ from: coze, to, group: "cozebus_bridge_again" });
    await waitFor("second pass", () => again.stats.bridged["indexDocumentRequested"] === N, 20_000);
    expect(again.stats.duplicates).toBe(N); // the typed stream recognised every id (Nats-Msg-Id dedup)
    await waitFor(`${N} typed`, () => seen.length >= N, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(seen.length).toBe(N);
    expect(new Set(seen.map((s) => s.id)).size).toBe(N);
    await Promise.all([first.stop(), again.stop()]);
  });

  it("stops mid-stream and resumes on its own durable: every message once, none twice", async () => {
    const seen = await typedLog();
    const coze = await legacy();
    const pk = await coze.producer(KNOWLEDGE);
    const doc = (i: number) => knowledgeEvents.indexDocument(BigInt(i + 1), fullDocument(BIG_ID + BigInt(i), BigInt(i + 1)));
    await pk.sendBatch(Array.from({ length: 100 }, (_, i) => doc(i)));
    const to = await world.bus();
    const first = await bridgeCozeStudio({ from: coze, to, concurrency: 2 });
    await waitFor("the first 100", () => first.stats.bridged["indexDocumentRequested"] === 100, 20_000);
    // Stopped while Coze goes on sending: 200 more arrive while no bridge runs.
    await first.stop();
    await pk.sendBatch(Array.from({ length: 200 }, (_, i) => doc(100 + i)));
    // A new bridge (a restarted process: new connection, same group) takes over where the durable stands.
    const resumed = await bridgeCozeStudio({ from: await legacy(), to: await world.bus() });
    await waitFor("the other 200", () => (resumed.stats.bridged["indexDocumentRequested"] ?? 0) >= 200, 30_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(resumed.stats.bridged["indexDocumentRequested"]).toBe(200);
    expect(resumed.stats.duplicates).toBe(0);
    await waitFor("300 typed", () => seen.length >= 300, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(seen.length).toBe(300);
    expect(new Set(seen.map((s) => s.id)).size).toBe(300);
    await resumed.stop();
  });
});
