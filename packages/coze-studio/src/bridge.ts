/**
 * The migration bridge: consumes Coze Studio's three legacy topics with its
 * own group and republishes each knowledge message as the typed cozebus
 * event of @cozebus/knowledge, idempotently.
 *
 * - Identity: the typed event's id (ce-id) is derived from the legacy
 *   message's identity: NATS JetStream `stream + sequence`, Pulsar the
 *   broker's message id (topic + `ledger:entry[:partition:batch]`), core
 *   NATS the sender's `ce-id` when a cozebus producer sent it. A message Go
 *   sent on core NATS has no identity at all (core NATS numbers nothing):
 *   its typed event gets a fresh id, and core NATS delivers it to the
 *   bridge's queue group once (and never while the bridge is down).
 * - Bridging the same legacy message twice gives the same ce-id. On a
 *   NATS JetStream typed side the stream keeps one (Nats-Msg-Id dedup within
 *   the stream's duplicate window, 2 minutes for cozebus's domain streams);
 *   elsewhere consumers dedupe by ce-id (@cozebus/core's inbox).
 * - Progress: the legacy message is acknowledged only after the typed event
 *   is stored, on the bridge's own durable (JetStream consumer / Pulsar
 *   subscription named after its group), so a restart resumes where it left off.
 * - Loops: the bridge publishes on typed subjects (`coze.knowledge...`) and
 *   reads legacy topics (`opencoze_...`), which never overlap, so its own
 *   events cannot come back to it. It still marks them
 *   (`cozebus-bridge-origin`) and skips any legacy message carrying the mark
 *   (counted as `skippedOwn`), should someone republish them onto a legacy topic.
 * - Not every legacy kind has a typed event (see UNBRIDGED): those are
 *   acknowledged and counted in `skipped`, never dropped silently.
 */
import { createHash } from "node:crypto";
import { NonRetryableError, type TransportLike } from "@cozebus/core";
import { knowledge } from "@cozebus/knowledge";
import type { ConsumerOptions, CozeConsumer, CozeMessage, CozeStudioBus } from "./api.js";
import type { KnowledgeDocument, KnowledgeEvent } from "./messages/knowledge.js";
import type { ChunkingStrategy as LegacyChunking } from "./messages/knowledge.js";
import { KNOWLEDGE, SEARCH_APP, SEARCH_RESOURCE } from "./topics.js";
import { pulsarTopicOf } from "./pulsar/naming.js";

/** The bridge's own group (a JetStream durable / Pulsar subscription of that name on each legacy topic). */
export const BRIDGE_GROUP = "cozebus_bridge";
/** Header (NATS) / property (Pulsar) on every typed event the bridge publishes: the legacy message's identity. */
export const BRIDGE_ORIGIN_HEADER = "cozebus-bridge-origin";
/** Header with the legacy kind (`opencoze_knowledge.index_document`). */
export const BRIDGE_KIND_HEADER = "cozebus-bridge-legacy-kind";

/** Legacy kinds with no typed event, and why. */
export const UNBRIDGED: Readonly<Record<string, string>> = {
  "opencoze_knowledge.delete_knowledge_data":
    "it deletes the listed slices (SliceIDs) from the search stores; the typed deleteKnowledgeDataRequested names documents, and its empty documentIds means the whole knowledge base, so a mapping would widen the deletion",
  opencoze_search_resource: "no typed event: @cozebus/knowledge, workflow and agent have none for resource search-index sync (their created/updated events are domain events with other fields, not index updates)",
  opencoze_search_app: "no typed event: @cozebus/agent has none for project search-index sync",
};

export interface BridgeStats {
  /** Legacy messages taken from the topics. */
  readonly received: number;
  /** Typed events published, by event name (`indexDocumentRequested`). */
  readonly bridged: Readonly<Record<string, number>>;
  /** Of those, the typed side said it already had (same ce-id: a legacy message bridged again). */
  readonly duplicates: number;
  /** Legacy messages with no typed event, by kind (`opencoze_knowledge.delete_knowledge_data`, `opencoze_search_app.updated`). */
  readonly skipped: Readonly<Record<string, number>>;
  /** Legacy messages that carried the bridge's own mark. */
  readonly skippedOwn: number;
  /** Publish failures retried, and legacy messages dead-lettered (undecodable, incomplete, out of attempts), from the legacy consumers. */
  readonly retried: number;
  readonly deadLettered: number;
}

export interface BridgeOptions {
  /** The legacy side: `cozeStudio(bus)` (NATS) or `cozeStudioPulsar()` (Pulsar), e.g. from `openCozeStudio()`. */
  readonly from: CozeStudioBus;
  /** The typed side: core's `connect()`, a NATS Bus (its `.transport`), or `connectPulsar()`. */
  readonly to: TransportLike;
  /** Default `cozebus_bridge`. Two bridges with different groups each bridge everything (same ids). */
  readonly group?: string;
  readonly concurrency?: number;
  readonly retry?: ConsumerOptions["retry"];
  /** Failures and dead letters of the legacy consumers. */
  readonly onError?: (error: Error) => void;
  /** Provision the typed knowledge domain on `to` first (additive; default true). */
  readonly provision?: boolean;
  /** After each legacy message is settled (for progress output). */
  readonly onSettled?: (kind: string, outcome: "bridged" | "duplicate" | "skipped" | "own") => void;
}

export interface CozeStudioBridge {
  readonly group: string;
  readonly stats: BridgeStats;
  /** Stops taking legacy messages, lets running ones finish (each is acked once its typed event is stored). */
  stop(): Promise<void>;
}

/** The typed event id for a legacy identity: deterministic, so the same legacy message always maps to the same ce-id. */
export function bridgedEventId(identity: string): string {
  return `coze-studio-bridge-${createHash("sha256").update(identity).digest("hex").slice(0, 32)}`;
}

/** The identity of a legacy message, or undefined when its transport gives it none (Go's core NATS messages). */
export function legacyIdentity(msg: CozeMessage): string | undefined {
  if (msg.stream !== undefined && msg.sequence !== undefined) return `nats-jetstream/${msg.stream}/${msg.sequence}`;
  if (msg.messageId !== undefined) return `pulsar/${pulsarTopicOf(msg.topic)}/${msg.messageId}`;
  if (msg.id !== undefined) return `nats-core/${msg.topic}/ce-id/${msg.id}`;
  return undefined;
}

const INT32_MAX = 2 ** 31 - 1;
const int32 = (v: bigint): number => (v > BigInt(INT32_MAX) ? INT32_MAX : v < 0n ? 0 : Number(v));

function chunking(c: LegacyChunking | undefined): { maxChars: number; overlap: number; separators: string[] } | undefined {
  if (c === undefined) return undefined;
  return { maxChars: int32(c.chunkSize), overlap: int32(c.overlap), separators: c.separator === "" ? [] : [c.separator] };
}

/** Where a legacy document's content is: custom text (Source 2) inline, else its object-storage URI, else its URL. */
function source(d: KnowledgeDocument): { kind: { $case: "objectUri" | "webUrl" | "text"; value: string } } | undefined {
  if (d.source === 2 && d.rawContent !== "") return { kind: { $case: "text", value: d.rawContent } };
  if (d.uri !== "") return { kind: { $case: "objectUri", value: d.uri } };
  if (d.url !== "") return { kind: { $case: "webUrl", value: d.url } };
  if (d.rawContent !== "") return { kind: { $case: "text", value: d.rawContent } };
  return undefined;
}

const need = <T>(v: T | undefined | null, what: string): T => {
  if (v === undefined || v === null) throw new NonRetryableError(`the legacy event has no ${what}; there is nothing to bridge`);
  return v;
};

class Counters {
  received = 0;
  bridged: Record<string, number> = {};
  duplicates = 0;
  skipped: Record<string, number> = {};
  skippedOwn = 0;
}

/**
 * Starts the bridge: one consumer per legacy topic, with the bridge's own
 * group. Resolves once all three are subscribed.
 */
export async function bridgeCozeStudio(options: BridgeOptions): Promise<CozeStudioBridge> {
  const group = options.group ?? BRIDGE_GROUP;
  const k = knowledge(options.to);
  if (options.provision !== false) await k.provision();
  const c = new Counters();
  const consumers: CozeConsumer[] = [];
  const settled = (kind: string, outcome: "bridged" | "duplicate" | "skipped" | "own"): void => {
    try {
      options.onSettled?.(kind, outcome);
    } catch {
      // user code
    }
  };
  const base: ConsumerOptions = {
    concurrency: options.concurrency ?? 4,
    // An incomplete legacy event (index_document without Document) is kept in the dead letters, not dropped.
    nonRetryable: "dead-letter",
    ...(options.retry !== undefined ? { retry: options.retry } : {}),
    ...(options.onError !== undefined ? { onError: options.onError } : {}),
  };
  const skip = (kind: string): void => {
    c.skipped[kind] = (c.skipped[kind] ?? 0) + 1;
    settled(kind, "skipped");
  };
  const own = (msg: CozeMessage, kind: string): boolean => {
    if (!msg.headers.has(BRIDGE_ORIGIN_HEADER)) return false;
    c.skippedOwn++;
    settled(kind, "own");
    return true;
  };

  const bridgeKnowledge = async (e: KnowledgeEvent, msg: CozeMessage): Promise<void> => {
    c.received++;
    const kind = `${msg.topic}.${e.type}`;
    if (own(msg, kind)) return;
    const identity = legacyIdentity(msg);
    const publish = {
      ...(identity !== undefined ? { id: bridgedEventId(identity) } : {}),
      headers: { [BRIDGE_ORIGIN_HEADER]: identity ?? `nats-core/${msg.topic}/none`, [BRIDGE_KIND_HEADER]: kind },
    };
    let name: string;
    let receipt: { duplicate?: boolean };
    switch (e.type) {
      case "index_documents": {
        const docs = (e.documents ?? []).filter((d): d is KnowledgeDocument => d !== null);
        name = "indexDocumentsRequested";
        receipt = await k.indexDocumentsRequested.publish(
          {
            knowledgeId: e.knowledgeId !== 0n ? e.knowledgeId : (docs[0]?.knowledgeId ?? 0n),
            documents: docs.map((d) => ({ documentId: d.id, name: d.name, source: source(d) })),
            chunking: chunking(docs[0]?.chunkingStrategy),
          },
          publish,
        );
        break;
      }
      case "index_document": {
        const d = need(e.document, "Document");
        name = "indexDocumentRequested";
        receipt = await k.indexDocumentRequested.publish(
          { knowledgeId: d.knowledgeId !== 0n ? d.knowledgeId : e.knowledgeId, documentId: d.id, source: source(d), chunking: chunking(d.chunkingStrategy) },
          publish,
        );
        break;
      }
      case "index_slice": {
        const s = need(e.slice, "Slice");
        const text = (s.rawContent ?? []).flatMap((p) => (p?.text !== undefined ? [p.text] : [])).join("\n");
        name = "indexSliceRequested";
        receipt = await k.indexSliceRequested.publish(
          { knowledgeId: s.knowledgeId !== 0n ? s.knowledgeId : (e.document?.knowledgeId ?? e.knowledgeId), documentId: s.documentId !== 0n ? s.documentId : (e.document?.id ?? 0n), sliceId: s.id, content: text },
          publish,
        );
        break;
      }
      case "document_review": {
        const d = need(e.document, "Document");
        const r = need(e.documentReview, "DocumentReview");
        name = "documentReviewRequested";
        receipt = await k.documentReviewRequested.publish(
          { knowledgeId: d.knowledgeId !== 0n ? d.knowledgeId : e.knowledgeId, documentId: d.id, reviewId: r.reviewId ?? 0n, chunking: chunking(d.chunkingStrategy) },
          publish,
        );
        break;
      }
      case "delete_knowledge_data":
        skip(kind);
        return;
    }
    c.bridged[name] = (c.bridged[name] ?? 0) + 1;
    if (receipt.duplicate === true) c.duplicates++;
    settled(kind, receipt.duplicate === true ? "duplicate" : "bridged");
  };

  try {
    consumers.push(await options.from.registerConsumer(KNOWLEDGE, bridgeKnowledge, { ...base, group }));
    for (const topic of [SEARCH_RESOURCE, SEARCH_APP] as const) {
      consumers.push(
        await options.from.registerConsumer(
          topic,
          (e: { opType: string }, msg: CozeMessage) => {
            c.received++;
            const kind = `${msg.topic}.${e.opType}`;
            if (!own(msg, kind)) skip(kind);
          },
          { ...base, group },
        ),
      );
    }
  } catch (err) {
    await Promise.all(consumers.map((x) => x.stop()));
    throw err;
  }

  return {
    group,
    get stats(): BridgeStats {
      const retried = consumers.reduce((n, x) => n + x.stats.retried, 0);
      const deadLettered = consumers.reduce((n, x) => n + x.stats.deadLettered, 0);
      return { received: c.received, bridged: { ...c.bridged }, duplicates: c.duplicates, skipped: { ...c.skipped }, skippedOwn: c.skippedOwn, retried, deadLettered };
    },
    stop: async () => {
      await Promise.all(consumers.map((x) => x.stop()));
    },
  };
}
