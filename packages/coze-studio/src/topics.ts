/**
 * Coze Studio's three topics and their consumer groups
 * (backend/types/consts/consts.go: RMQTopic*, RMQConsumeGroup*), each with
 * the codec of its payload. Transport-neutral: the NATS names derived from
 * them live in nats/naming.ts, and a Pulsar adapter derives its own.
 */
import type { Init, JsonCodec } from "./messages/codec.js";
import { knowledgeEventCodec, type KnowledgeEvent } from "./messages/knowledge.js";
import { projectEventCodec, resourceEventCodec, type ProjectDomainEvent, type ResourceDomainEvent } from "./messages/search.js";

export interface CozeTopic<T> {
  /** The topic as Coze names it, e.g. `opencoze_knowledge`. */
  readonly topic: string;
  /** The consumer group Coze registers on it, e.g. `cg_knowledge`. */
  readonly group: string;
  readonly codec: JsonCodec<T>;
  /** The CloudEvents type cozebus records for a message (`ce-type`; Coze ignores headers), e.g. `coze-studio.opencoze_knowledge.index_document`. */
  eventType(event: Init<T>): string;
  /** What the topic carries, who sends and who handles it. */
  readonly description: string;
}

const typed = <T>(topic: string, discriminator: (e: Init<T>) => string | undefined) => (e: Init<T>) => {
  const d = discriminator(e);
  return typeof d === "string" && /^[a-z_]+$/.test(d) ? `coze-studio.${topic}.${d}` : `coze-studio.${topic}`;
};

export const SEARCH_RESOURCE: CozeTopic<ResourceDomainEvent> = {
  topic: "opencoze_search_resource",
  group: "cg_search_resource",
  codec: resourceEventCodec,
  eventType: typed("opencoze_search_resource", (e) => e.opType),
  description: "resource search index updates (plugins, workflows, knowledge bases, prompts, databases...): created / updated / deleted, sent by the domain services, handled by search (Elasticsearch coze_resource)",
};

export const SEARCH_APP: CozeTopic<ProjectDomainEvent> = {
  topic: "opencoze_search_app",
  group: "cg_search_app",
  codec: projectEventCodec,
  eventType: typed("opencoze_search_app", (e) => e.opType),
  description: "agent and app (project) search index updates: created / updated / deleted, sent by the intelligence services, handled by search (Elasticsearch project index)",
};

export const KNOWLEDGE: CozeTopic<KnowledgeEvent> = {
  topic: "opencoze_knowledge",
  group: "cg_knowledge",
  codec: knowledgeEventCodec,
  eventType: typed("opencoze_knowledge", (e) => e.type),
  description: "the knowledge pipeline: index_documents (fanned out into one index_document per document), index_document, index_slice, delete_knowledge_data, document_review; sent and handled by the knowledge service",
};

/** All three, in the order Coze registers their consumers. */
export const COZE_TOPICS = [SEARCH_APP, SEARCH_RESOURCE, KNOWLEDGE] as const;
