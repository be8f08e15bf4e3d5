/**
 * @cozebus/agent — typed agent events. Everything under ./gen is
 * generated from schemas/coze/agent; this file only names the client.
 */
import { createRequire } from "node:module";
import { domainClient, type DomainClient, type DomainEvent, type TransportLike } from "@cozebus/core";
import { agentDomain } from "./gen/agent.events.js";

// Recorded in the streams this build provisions, so operators see which versions share them (rolling upgrades).
const pkg = createRequire(import.meta.url)("../package.json") as { name: string; version: string };

export * from "./gen/coze/agent/v1/agent.js";
export { agentDomain };

/** The agent domain's typed events and operations on a bus: `agent(bus).published.publish({...})`. */
export function agent(bus: TransportLike): DomainClient<typeof agentDomain> {
  return domainClient(bus, agentDomain, { build: `${pkg.name}@${pkg.version}` });
}

/** Any agent event, discriminated by `type` (for `subscribeAll`). */
export type AgentEvent = DomainEvent<typeof agentDomain>;
