import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger, sleep, startNatsServer, waitFor, type NatsServer } from "@cozebus/testing";
import { openBus, type Bus } from "@cozebus/nats";
import { DocumentStatus, knowledge, type IndexDocumentRequested, type KnowledgeEvent } from "../src/index.js";

const quiet = silentLogger;
const until = (what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> => waitFor(what, check, ms);

let server: NatsServer;
let bus: Bus;
let kb: ReturnType<typeof knowledge>;

beforeAll(async () => {
  server = await startNatsServer();
  bus = await openBus({ servers: server.url, env: {}, logger: quiet, onError: () => undefined });
  kb = knowledge(bus);
  await kb.provision();
});
afterAll(async () => {
  await bus?.close();
  await server?.stop();
});

describe("@cozebus/knowledge", () => {
  it("every event arrives intact; per-document subjects carry both ids", async () => {
    const got = new Map<string, { event: unknown; subject: string }>();
    const sub = await kb.subscribeAll((e: KnowledgeEvent) => void got.set(e.type, { event: e.event, subject: e.ctx.subject }), { group: "all" });
    const chunking = { maxChars: 800, overlap: 80, separators: ["\n\n", "。"] };
    const samples = {
      indexDocumentsRequested: { knowledgeId: 1n, documents: [{ documentId: 10n, name: "a.pdf", source: { kind: { $case: "objectUri" as const, value: "tos://b/a.pdf" } } }], chunking, operatorId: "u" },
      indexDocumentRequested: { knowledgeId: 1n, documentId: 10n, source: { kind: { $case: "webUrl" as const, value: "https://example.invalid/x" } }, chunking, force: true },
      indexSliceRequested: { knowledgeId: 1n, documentId: 10n, sliceId: 100n, content: "slice" },
      deleteKnowledgeDataRequested: { knowledgeId: 1n, documentIds: [], operatorId: "u" },
      documentReviewRequested: { knowledgeId: 1n, documentId: 11n, reviewId: 5n, chunking },
      documentIndexed: { knowledgeId: 1n, documentId: 10n, sliceCount: 12, charCount: 9000n, indexedAt: new Date("2026-11-22T09:00:00Z") },
      documentIndexFailed: { knowledgeId: 1n, documentId: 12n, status: DocumentStatus.DOCUMENT_STATUS_FAILED, errorMessage: "parse error", retryable: false },
    };
    await kb.indexDocumentsRequested.publish(samples.indexDocumentsRequested);
    await kb.indexDocumentRequested.publish(samples.indexDocumentRequested);
    await kb.indexSliceRequested.publish(samples.indexSliceRequested);
    await kb.deleteKnowledgeDataRequested.publish(samples.deleteKnowledgeDataRequested);
    await kb.documentReviewRequested.publish(samples.documentReviewRequested);
    await kb.documentIndexed.publish(samples.documentIndexed);
    await kb.documentIndexFailed.publish(samples.documentIndexFailed);
    await until("all seven events", () => got.size === 7);
    for (const [name, sample] of Object.entries(samples)) expect(got.get(name)?.event, name).toEqual(sample);
    expect(got.get("documentIndexed")?.subject).toBe("coze.knowledge.1.document.10.indexed");
    await sub.stop();
  });

  it("filters by any subject field: one document of one knowledge base", async () => {
    const got: bigint[] = [];
    const sub = await kb.documentIndexed.subscribe((e) => void got.push(e.documentId), { group: "doc-20", filter: { knowledgeId: 2n, documentId: 20n } });
    for (const doc of [19n, 20n, 21n, 20n]) await kb.documentIndexed.publish({ knowledgeId: 2n, documentId: doc });
    await kb.documentIndexed.publish({ knowledgeId: 3n, documentId: 20n });
    await until("two events", () => got.length === 2);
    await sleep(300);
    expect(got).toEqual([20n, 20n]);
    await sub.stop();
  });

  it("round-trips arbitrary documents: unicode names, oneof shapes, empty and large repeated fields", async () => {
    // A new group starts from the beginning of the stream: skip the first test's event (knowledge 1).
    const received: IndexDocumentRequested[] = [];
    const sub = await kb.indexDocumentRequested.subscribe((e) => void (e.knowledgeId >= 1000n && received.push(e)), { group: "prop" });
    const source = fc.oneof(
      fc.record({ kind: fc.record({ $case: fc.constant("objectUri" as const), value: fc.string({ unit: "grapheme", maxLength: 40 }) }) }),
      fc.record({ kind: fc.record({ $case: fc.constant("text" as const), value: fc.string({ unit: "grapheme", maxLength: 400 }) }) }),
      fc.constant({ kind: undefined }),
    );
    const samples = fc.sample(
      fc.record({
        knowledgeId: fc.bigInt({ min: 1000n, max: 2n ** 63n - 1n }),
        documentId: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
        source,
        chunking: fc.record({ maxChars: fc.integer({ min: 0, max: 2 ** 31 - 1 }), overlap: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), separators: fc.array(fc.string({ unit: "grapheme" }), { maxLength: 300 }) }),
        force: fc.boolean(),
      }),
      { numRuns: 30, seed: 7 },
    );
    for (const s of samples) await kb.indexDocumentRequested.publish(s);
    await until("every sample", () => received.length === samples.length).catch(async (e: Error) => {
      const js = await bus.jetstream();
      throw new Error(`${e.message}: got ${received.length} of ${samples.length}; dead letters: ${JSON.stringify((await js.deadLetters.list()).map((d) => d.error))}`);
    });
    expect(received).toEqual(samples);
    await sub.stop();
  });
});
