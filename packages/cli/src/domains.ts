import { agentDomain } from "@cozebus/agent";
import { knowledgeDomain } from "@cozebus/knowledge";
import { domainClient, type Bus, type DomainDef, type StreamSpec } from "@cozebus/nats";
import { workflowDomain } from "@cozebus/workflow";

/** The domains this CLI was built with, and the packages that generate them. */
export const DOMAINS: ReadonlyArray<{ readonly def: DomainDef; readonly pkg: string }> = [
  { def: workflowDomain, pkg: "@cozebus/workflow" },
  { def: agentDomain, pkg: "@cozebus/agent" },
  { def: knowledgeDomain, pkg: "@cozebus/knowledge" },
];

/** Every stream the domains need on this bus (the dead-letter stream once). */
export async function wantedStreams(bus: Bus): Promise<StreamSpec[]> {
  const byName = new Map<string, StreamSpec>();
  for (const { def } of DOMAINS) for (const spec of await domainClient(bus, def).streams()) byName.set(spec.name, spec);
  return [...byName.values()];
}
