import type { DomainPlan, ProvisionResult } from "@cozebus/core/transport";
import { DLQ_SUBSCRIPTION, deadLetterLocalName, fullTopic, topicLocalName, type Names } from "../mapping.js";
import type { Admin, RetentionPolicy } from "../wire/admin.js";

/** The port's defaults for a domain's stored events: 7 days, 1 GiB. */
export const DEFAULT_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;
export const DEFAULT_MAX_BYTES = 1024 * 1024 * 1024;

/** The retention a plan asks for, in Pulsar's units (rounded up: never less than asked). */
export function wantedRetention(plan: Pick<DomainPlan, "limits">): RetentionPolicy {
  const age = plan.limits?.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  const size = plan.limits?.maxBytes ?? DEFAULT_MAX_BYTES;
  return {
    retentionTimeInMinutes: age < 0 ? -1 : Math.ceil(age / 60_000),
    retentionSizeInMB: size < 0 ? -1 : Math.ceil(size / (1024 * 1024)),
  };
}

/** The larger of two limits, -1 (none) being the largest. */
const atLeast = (current: number, wanted: number): number => (current === -1 || wanted === -1 ? -1 : Math.max(current, wanted));

/**
 * Retention is what keeps a domain's events for groups that have not
 * subscribed yet (Pulsar keeps nothing every subscription has acked, and
 * nothing at all on a topic without subscriptions, unless retention says
 * so). Set on the namespace, which every domain of the connection shares:
 * additive, so only ever raised, never lowered — another domain or build
 * may need more.
 */
async function provisionRetention(admin: Admin, names: Names, plan: DomainPlan): Promise<ProvisionResult> {
  const { tenant, namespace } = names;
  const wanted = wantedRetention(plan);
  const current = await admin.retention(tenant, namespace);
  const resource = `retention of namespace ${tenant}/${namespace}`;
  const next: RetentionPolicy = current
    ? { retentionTimeInMinutes: atLeast(current.retentionTimeInMinutes, wanted.retentionTimeInMinutes), retentionSizeInMB: atLeast(current.retentionSizeInMB, wanted.retentionSizeInMB) }
    : wanted;
  const same = (x: RetentionPolicy, y: RetentionPolicy): boolean => x.retentionTimeInMinutes === y.retentionTimeInMinutes && x.retentionSizeInMB === y.retentionSizeInMB;
  // Where the namespace already keeps more than asked, that is kept: say so.
  const conflicts = current && !same(next, wanted) ? [`kept at ${describeRetention(next)} (asked ${describeRetention(wanted)}): retention is only ever raised`] : [];
  if (current && same(current, next)) return { resource, action: "unchanged", conflicts };
  await admin.setRetention(tenant, namespace, next);
  return { resource, action: current ? "updated" : "created", conflicts };
}

const describeRetention = (r: RetentionPolicy): string =>
  `${r.retentionTimeInMinutes === -1 ? "no time limit" : `${r.retentionTimeInMinutes} min`}, ${r.retentionSizeInMB === -1 ? "no size limit" : `${r.retentionSizeInMB} MB`}`;

/**
 * Additive provisioning over the admin REST API: the tenant and namespace
 * when missing, the namespace's retention from the plan's limits (raised,
 * never lowered), one non-partitioned topic per event type, the domain's
 * dead-letter topic and the `cozebus-dlq` subscription that makes Pulsar
 * keep dead letters (it keeps nothing on a topic without a subscription).
 * Nothing is ever deleted or reconfigured: a topic found partitioned is
 * kept and reported.
 */
export async function provisionDomain(admin: Admin, names: Names, plan: DomainPlan): Promise<ProvisionResult[]> {
  const out: ProvisionResult[] = [];
  const { tenant, namespace } = names;
  if (!(await admin.tenantExists(tenant))) {
    await admin.createTenant(tenant);
    out.push({ resource: `tenant ${tenant}`, action: "created", conflicts: [] });
  }
  const nsCreated = (await admin.namespaceExists(tenant, namespace)) ? false : await admin.createNamespace(tenant, namespace);
  out.push({ resource: `namespace ${tenant}/${namespace}`, action: nsCreated ? "created" : "unchanged", conflicts: [] });
  out.push(await provisionRetention(admin, names, plan));

  const topics = new Map<string, string[]>();
  for (const e of plan.events) {
    const t = fullTopic(names, topicLocalName(e.template, names.root));
    topics.set(t, [...(topics.get(t) ?? []), e.type]);
  }
  for (const [topic, types] of topics) {
    const created = await admin.createTopic(topic);
    const conflicts: string[] = [];
    if (types.length > 1) conflicts.push(`shared by event types ${types.join(", ")} (their templates differ only in field names)`);
    if (!created) {
      const n = await admin.partitions(topic);
      if (n > 0) conflicts.push(`exists as a partitioned topic with ${n} partitions; kept as found (cozebus creates non-partitioned topics, and works with either)`);
    }
    out.push({ resource: `topic ${topic}`, action: created ? "created" : "unchanged", conflicts });
  }

  const dlq = fullTopic(names, deadLetterLocalName(names.root, plan.domain));
  out.push({ resource: `topic ${dlq}`, action: (await admin.createTopic(dlq)) ? "created" : "unchanged", conflicts: [] });
  out.push({ resource: `subscription ${DLQ_SUBSCRIPTION} on ${dlq}`, action: (await admin.createSubscription(dlq, DLQ_SUBSCRIPTION)) ? "created" : "unchanged", conflicts: [] });
  return out;
}
