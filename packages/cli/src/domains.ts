import { agentDomain } from "@cozebus/agent";
import { knowledgeDomain } from "@cozebus/knowledge";
import { domainClient, domainStreams, type Bus, type DomainDef, type StreamSpec } from "@cozebus/nats";
import { workflowDomain } from "@cozebus/workflow";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** `<package>@<version>` of a domain package as installed next to this CLI. */
const buildOf = (pkg: string): string => `${pkg}@${(require(`${pkg}/package.json`) as { version: string }).version}`;

/** The domains this CLI was built with, the packages that generate them, and their installed builds. */
export const DOMAINS: ReadonlyArray<{ readonly def: DomainDef; readonly pkg: string; readonly build: string }> = [
  { def: workflowDomain, pkg: "@cozebus/workflow" },
  { def: agentDomain, pkg: "@cozebus/agent" },
  { def: knowledgeDomain, pkg: "@cozebus/knowledge" },
].map((d) => ({ ...d, build: buildOf(d.pkg) }));

/** A stream the domains need, and the builds that need it (the dead-letter stream: all of them). */
export interface WantedStream {
  readonly spec: StreamSpec;
  readonly builds: readonly string[];
}

/** Every stream the domains need on this bus (the dead-letter stream once), each spec made by its domain client. */
export async function wantedStreams(bus: Bus): Promise<WantedStream[]> {
  const byName = new Map<string, { spec: StreamSpec; builds: string[] }>();
  for (const { def, build } of DOMAINS) {
    for (const spec of await domainStreams(bus, domainClient(bus, def, { build }).plan())) {
      const entry = byName.get(spec.name) ?? { spec, builds: [] };
      entry.builds.push(build);
      byName.set(spec.name, entry);
    }
  }
  return [...byName.values()];
}
