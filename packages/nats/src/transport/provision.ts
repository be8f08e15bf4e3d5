import { FeatureUnavailableError, StreamConfigError, type DomainPlan, type ProvisionResult } from "@cozebus/core/transport";
import type { Bus } from "../connection/bus.js";
import { FEATURES } from "../connection/server-info.js";
import { templatePattern } from "../messaging/subject.js";
import type { EnsureResult, StreamSpec } from "../jetstream/streams.js";

/**
 * The streams a domain needs on this bus: its own over exactly the subjects
 * of its at-least-once events (never its request/reply subjects), when it has
 * any, and the dead-letter stream. The one place a domain's stream spec is
 * made; `provision`, `cozebus streams` and `doctor` all use it.
 */
export async function domainStreams(bus: Bus, plan: DomainPlan): Promise<StreamSpec[]> {
  const js = await bus.jetstream();
  const stored = plan.events.filter((e) => e.qos === "at-least-once").map((e) => templatePattern(e.template, {}, bus.prefix));
  const requests = plan.operations.map((t) => templatePattern(t, {}, bus.prefix));
  const limits = plan.limits;
  if (plan.schedules === true) {
    if (!bus.server.supports("msg-schedules")) throw new FeatureUnavailableError("msg-schedules", `delayed publishes need nats-server ${FEATURES["msg-schedules"].since} or later; this server is ${bus.server.version}`);
    if (limits?.discard !== "old") throw new StreamConfigError(js.domainStreamName(plan.domain), 'message schedules need discard "old" (a nats-server rule): provision({ limits: { discard: "old" }, schedules: true }), knowing a full stream then drops its oldest events');
  }
  // Newer servers' per-event features, switched on where the server has them (never off again: additive).
  const allow = { msgTtl: bus.server.supports("msg-ttl"), schedules: plan.schedules === true, atomic: bus.server.supports("atomic-batch") };
  const specs: StreamSpec[] = [];
  if (allow.schedules && stored.length > 0) stored.push(js.scheduleSubjects(plan.domain));
  if (stored.length > 0) specs.push(js.domainStream(plan.domain, stored, limits, requests, allow));
  specs.push(js.deadLetterStream());
  return specs;
}

/** What NATS provisioning reports: the port's result plus the stream's own details. */
export type StreamProvisionResult = ProvisionResult & EnsureResult;

/** Creates the domain's streams or provisions them additively (see ensureStream), recording the build. */
export async function provisionDomain(bus: Bus, plan: DomainPlan): Promise<StreamProvisionResult[]> {
  const js = await bus.jetstream();
  const results: StreamProvisionResult[] = [];
  for (const spec of await domainStreams(bus, plan)) {
    const r = await js.ensureStream(spec, plan.build !== undefined ? { build: plan.build } : {});
    results.push({ ...r, resource: `stream ${r.stream}` });
  }
  return results;
}
