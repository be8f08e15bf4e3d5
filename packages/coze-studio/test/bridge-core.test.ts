/**
 * The bridge with a core-NATS legacy side (COZE_MQ_TYPE=nats,
 * NATS_USE_JETSTREAM=false), fed by cozego: Coze's Go producer on core NATS
 * (PublishMsg with a Sharding-Key header, nothing else). The typed side is
 * JetStream on the same server, so what the bridge publishes is kept and
 * counted. What core NATS allows the bridge to promise is tested here: every
 * message sent while it is subscribed, once per bridge group, beside Coze's
 * own groups; nothing sent while it is down (core NATS keeps nothing); no
 * identity for Go's messages, so no dedup across bridge groups for them.
 */
import { knowledge, type KnowledgeEvent as TypedKnowledgeEvent } from "@cozebus/knowledge";
import { openBus, type Bus } from "@cozebus/nats";
import { silentLogger } from "@cozebus/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BRIDGE_ORIGIN_HEADER, bridgeCozeStudio, cozeStudioBusOptions, knowledgeEventCodec, knowledgeEvents, type CozeStudio, type CozeStudioBridge } from "../src/index.js";
import { BIG_ID, INT64_MAX, fullDocument } from "./fixtures.js";
import { GoConsumer, runGo } from "./go.js";
import { World, waitFor } from "./helpers.js";

let world: World;
const typedBuses: Bus[] = [];
const goConsumers: GoConsumer[] = [];
const bridges: CozeStudioBridge[] = [];
const bridgeErrors: Error[] = [];

beforeEach(async () => {
  world = await World.start(false);
  expect(world.env["NATS_USE_JETSTREAM"]).toBe("false");
});
afterEach(async () => {
  bridgeErrors.length = 0;
  await Promise.all(bridges.splice(0).map((b) => b.stop().catch(() => undefined)));
  await Promise.all(goConsumers.splice(0).map((g) => g.stop()));
  await Promise.all(typedBuses.splice(0).map((b) => b.drain({ timeoutMs: 5000 }).catch(() => undefined)));
  await world.stop();
});

/** The typed side: JetStream on the same server (the legacy side is core). */
async function typedBus(): Promise<Bus> {
  const bus = await openBus(cozeStudioBusOptions({ env: { ...world.env, NATS_USE_JETSTREAM: "true" }, logger: silentLogger, onError: () => undefined }));
  typedBuses.push(bus);
  return bus;
}

/** Every typed delivery, with its ce-id and bridge origin header. */
async function typedLog(bus: Bus): Promise<Array<{ type: string; id: string; origin: string | undefined; event: unknown }>> {
  const seen: Array<{ type: string; id: string; origin: string | undefined; event: unknown }> = [];
  const kb = knowledge(bus);
  await kb.provision();
  await kb.subscribeAll(
    (e: TypedKnowledgeEvent) => void seen.push({ type: e.type, id: e.ctx.id, origin: e.ctx.headers.get(BRIDGE_ORIGIN_HEADER), event: e.event }),
    { group: "typed_check", concurrency: 8 },
  );
  return seen;
}

async function bridge(from: CozeStudio, to: Bus, group?: string): Promise<CozeStudioBridge> {
  const b = await bridgeCozeStudio({ from, to, onError: (e) => void bridgeErrors.push(e), ...(group !== undefined ? { group } : {}) });
  bridges.push(b);
  return b;
}

/** `cozego produce` on core NATS, as Coze's producer.go sends there. */
async function goSend(lines: readonly string[], key?: string): Promise<void> {
  const out = await runGo(["produce", "-topic", "opencoze_knowledge", ...(key !== undefined ? ["-key", key] : [])], world.env, lines);
  expect(out).toEqual([{ sent: lines.length }]);
}

const json = (e: Parameters<typeof knowledgeEventCodec.encodeToString>[0]): string => knowledgeEventCodec.encodeToString(e);
const indexDoc = (i: number): string => json(knowledgeEvents.indexDocument(BIG_ID, fullDocument(BIG_ID + BigInt(i), BIG_ID)));

describe("bridgeCozeStudio (core NATS legacy side, Coze's Go producer)", () => {
  it("republishes what Go sends as typed events (ids exact, fresh ce-ids), skips what has none, reports malformed JSON and reads on", async () => {
    const to = await typedBus();
    const seen = await typedLog(to);
    const coze = await world.coze();
    expect(coze.mode).toBe("core");
    const b = await bridge(coze, to);
    await goSend(
      [
        json(knowledgeEvents.indexDocuments(BIG_ID, [fullDocument(BIG_ID + 1n, BIG_ID), fullDocument(INT64_MAX, BIG_ID)])),
        json(knowledgeEvents.indexDocument(BIG_ID, fullDocument(INT64_MAX, BIG_ID))),
        json(knowledgeEvents.deleteKnowledgeData(BIG_ID, [1n])),
        '{"Type":"index_document","Document":',
        indexDoc(7),
      ],
      String(BIG_ID),
    );
    await waitFor("the four decodable messages", () => b.stats.received === 4, 20_000);
    await waitFor("three typed events", () => seen.length >= 3, 20_000);
    expect(b.stats.bridged).toEqual({ indexDocumentsRequested: 1, indexDocumentRequested: 2 });
    expect(b.stats.skipped).toEqual({ "opencoze_knowledge.delete_knowledge_data": 1 });
    const batch = seen.find((s) => s.type === "indexDocumentsRequested")!.event as { knowledgeId: bigint; documents: Array<{ documentId: bigint }> };
    expect(batch.knowledgeId).toBe(BIG_ID);
    expect(batch.documents.map((d) => d.documentId)).toEqual([BIG_ID + 1n, INT64_MAX]);
    const docIds = seen.filter((s) => s.type === "indexDocumentRequested").map((s) => (s.event as { documentId: bigint }).documentId);
    expect(docIds.sort()).toEqual([BIG_ID + 7n, INT64_MAX]);
    // Go's core messages carry no identity: each typed event has its own fresh id, and the origin says so.
    expect(new Set(seen.map((s) => s.id)).size).toBe(3);
    expect(new Set(seen.map((s) => s.origin))).toEqual(new Set(["nats-core/opencoze_knowledge/none"]));
    // The malformed one was reported (core has no dead letters) and the next was still bridged.
    expect(bridgeErrors.map((e) => e.message)).toEqual([expect.stringMatching(/opencoze_knowledge.*JSON/is)]);
  });

  it("takes its own copy beside Coze's cg_knowledge group, once per bridge group however many replicas", async () => {
    const to = await typedBus();
    const seen = await typedLog(to);
    const goGroup = await GoConsumer.start(["-topic", "opencoze_knowledge", "-group", "cg_knowledge"], world.env);
    goConsumers.push(goGroup);
    // Two replicas of the bridge: one queue group (cozebus_bridge), so each message reaches one of them.
    const b1 = await bridge(await world.coze(), to);
    const b2 = await bridge(await world.coze(), to);
    const N = 40;
    await goSend(Array.from({ length: N }, (_, i) => indexDoc(i)), "k");
    await goGroup.waitFor(`${N} in Coze's own group`, () => goGroup.received.length === N);
    await waitFor(`${N} bridged`, () => b1.stats.received + b2.stats.received === N, 20_000);
    await waitFor(`${N} typed`, () => seen.length >= N, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(b1.stats.received + b2.stats.received).toBe(N);
    expect(seen.length).toBe(N);
    expect(new Set(seen.map((s) => (s.event as { documentId: bigint }).documentId)).size).toBe(N);
    // The Go consumer saw the Sharding-Key header Go's core producer sets, and nothing of the bridge.
    expect(goGroup.received.every((r) => r.headers?.["Sharding-Key"] === "k" && Object.keys(r.headers).length === 1)).toBe(true);
  });

  it("at most once, as core NATS is: what Go sends while the bridge is down is lost to it; after a restart it bridges what comes next", async () => {
    const to = await typedBus();
    const seen = await typedLog(to);
    const coze = await world.coze();
    const first = await bridge(coze, to);
    await goSend([indexDoc(1), indexDoc(2)]);
    await waitFor("the first two", () => seen.length >= 2, 20_000);
    await first.stop();
    bridges.splice(bridges.indexOf(first), 1);
    // A Go consumer of Coze's group stands in for the rest of the deployment: the messages were sent.
    const witness = await GoConsumer.start(["-topic", "opencoze_knowledge", "-group", "cg_knowledge"], world.env);
    goConsumers.push(witness);
    await goSend([indexDoc(3), indexDoc(4), indexDoc(5)]);
    await witness.waitFor("the three sent while the bridge was down", () => witness.received.length === 3);
    const second = await bridge(await world.coze(), to);
    await goSend([indexDoc(6)]);
    await waitFor("the one sent after the restart", () => second.stats.received === 1, 20_000);
    await waitFor("three typed", () => seen.length >= 3, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(seen.map((s) => (s.event as { documentId: bigint }).documentId).sort()).toEqual([BIG_ID + 1n, BIG_ID + 2n, BIG_ID + 6n]);
  });
});
