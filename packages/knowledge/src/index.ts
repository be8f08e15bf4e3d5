/**
 * @cozebus/knowledge — typed knowledge events. Everything under ./gen is
 * generated from schemas/coze/knowledge; this file only names the client.
 */
import { domainClient, type Bus, type DomainClient, type DomainEvent } from "@cozebus/nats";
import { knowledgeDomain } from "./gen/knowledge.events.js";

export * from "./gen/coze/knowledge/v1/knowledge.js";
export { knowledgeDomain };

/** The knowledge domain's typed events and operations on a bus: `knowledge(bus).indexDocumentRequested.publish({...})`. */
export function knowledge(bus: Bus): DomainClient<typeof knowledgeDomain> {
  return domainClient(bus, knowledgeDomain);
}

/** Any knowledge event, discriminated by `type` (for `subscribeAll`). */
export type KnowledgeEvent = DomainEvent<typeof knowledgeDomain>;
