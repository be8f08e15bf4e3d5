/**
 * @cozebus/knowledge — typed knowledge events. Everything under ./gen is
 * generated from schemas/coze/knowledge; this file only names the client.
 */
import { createRequire } from "node:module";
import { domainClient, type DomainClient, type DomainEvent, type TransportLike } from "@cozebus/core";
import { knowledgeDomain } from "./gen/knowledge.events.js";

// Recorded in the streams this build provisions, so operators see which versions share them (rolling upgrades).
const pkg = createRequire(import.meta.url)("../package.json") as { name: string; version: string };

export * from "./gen/coze/knowledge/v1/knowledge.js";
export { knowledgeDomain };

/** The knowledge domain's typed events and operations on a bus: `knowledge(bus).indexDocumentRequested.publish({...})`. */
export function knowledge(bus: TransportLike): DomainClient<typeof knowledgeDomain> {
  return domainClient(bus, knowledgeDomain, { build: `${pkg.name}@${pkg.version}` });
}

/** Any knowledge event, discriminated by `type` (for `subscribeAll`). */
export type KnowledgeEvent = DomainEvent<typeof knowledgeDomain>;
