/**
 * @cozebus/workflow — typed workflow events. Everything under ./gen is
 * generated from schemas/coze/workflow; this file only names the client.
 */
import { createRequire } from "node:module";
import { domainClient, type DomainClient, type DomainEvent, type TransportLike } from "@cozebus/core";
import { workflowDomain } from "./gen/workflow.events.js";

// Recorded in the streams this build provisions, so operators see which versions share them (rolling upgrades).
const pkg = createRequire(import.meta.url)("../package.json") as { name: string; version: string };

export * from "./gen/coze/workflow/v1/workflow.js";
export { workflowDomain };

/** The workflow domain's typed events and operations on a bus: `workflow(bus).executionStarted.publish({...})`. */
export function workflow(bus: TransportLike): DomainClient<typeof workflowDomain> {
  return domainClient(bus, workflowDomain, { build: `${pkg.name}@${pkg.version}` });
}

/** Any workflow event, discriminated by `type` (for `subscribeAll`). */
export type WorkflowEvent = DomainEvent<typeof workflowDomain>;
