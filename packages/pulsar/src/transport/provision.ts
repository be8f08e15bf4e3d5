import type { DomainPlan, ProvisionResult } from "@cozebus/core/transport";
import { DLQ_SUBSCRIPTION, deadLetterLocalName, fullTopic, topicLocalName, type Names } from "../mapping.js";
import type { Admin } from "../wire/admin.js";

/**
 * Additive provisioning over the admin REST API: the tenant and namespace
 * when missing, one non-partitioned topic per event type, the domain's
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
