/**
 * @cozebus/workflow — typed workflow events. Everything under ./gen is
 * generated from schemas/coze/workflow; this file only names the client.
 */
import { domainClient, type Bus, type DomainClient, type DomainEvent } from "@cozebus/nats";
import { workflowDomain } from "./gen/workflow.events.js";

export * from "./gen/coze/workflow/v1/workflow.js";
export { workflowDomain };

/** The workflow domain's typed events and operations on a bus: `workflow(bus).executionStarted.publish({...})`. */
export function workflow(bus: Bus): DomainClient<typeof workflowDomain> {
  return domainClient(bus, workflowDomain);
}

/** Any workflow event, discriminated by `type` (for `subscribeAll`). */
export type WorkflowEvent = DomainEvent<typeof workflowDomain>;
