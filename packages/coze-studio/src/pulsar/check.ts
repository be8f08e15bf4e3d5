/**
 * `doctor` for a Coze Studio deployment on Pulsar: the environment as Coze's
 * Go code reads it, each topic (exists, partitioned or not), each group's
 * subscription and its type (Go: Exclusive, cozebus: Shared, and why they
 * cannot share one), the group's dead letters, and retention compared with
 * what the NATS half keeps. Reads only; never changes anything.
 */
import type { Admin } from "@cozebus/pulsar";
import type { CheckStatus, CozeCheck, KnownDifference } from "../nats/check.js";
import type { Env } from "../config.js";
import { COZE_TOPICS } from "../topics.js";
import { DLQ_SUBSCRIPTION, GO_NAMESPACE, GO_TENANT, deadLetterTopicOf, pulsarTopicOf } from "./naming.js";

export interface PulsarCheckReport {
  readonly checks: readonly CozeCheck[];
  readonly ok: boolean;
}

export interface PulsarCheckOptions {
  readonly env?: Env;
  /** Topics and groups to check (default: Coze's three with their groups, plus the bridge's group when `bridgeGroup` is given). */
  readonly topics?: ReadonlyArray<{ readonly topic: string; readonly group: string }>;
  /** Also check this cozebus group on every topic (e.g. `cozebus_bridge`). */
  readonly extraGroups?: readonly string[];
}

/**
 * Where cozebus on Pulsar behaves differently from Coze's Go code on
 * purpose: read in backend/infra/eventbus/impl/pulsar and seen against
 * apache/pulsar-client-go v0.16.0 (test/pulsar-go.test.ts). The report of
 * checkCozeStudioPulsar lists each as an `info` check `differs: <what>`.
 */
export const PULSAR_KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  {
    what: "subscription type",
    go: "Exclusive (consumer.go Type: pulsar.Exclusive): one consumer per group, a second replica's Subscribe is refused",
    cozebus: "Shared: replicas of a group split the messages",
    why: "scale out; so a group is held by one side at a time (the broker refuses the other type while consumers are connected): give cozebus services their own group",
  },
  {
    what: "producer name",
    go: "<group>-producer (producer.go): unique per topic, so a second replica's producer is refused",
    cozebus: "none: the broker names each producer",
    why: "a second instance must be able to send",
  },
  {
    what: "new subscription",
    go: "created by Subscribe at the latest message (the client's default initial position)",
    cozebus: "created at the earliest retained message (admin REST, before subscribing)",
    why: "a group started after the topic sees what the topic still holds, as JetStream's deliver-all",
  },
  {
    what: "failed handler",
    go: "Nack(): redelivered after the client's default nack delay (1 minute), forever",
    cozebus: "backoff (1 s doubling to 60 s), at most retry.maxDeliveries (5), then <topic>-<group>-DLQ",
    why: "no endless loop on a poison message",
  },
  {
    what: "undecodable payload",
    go: "retried forever (the knowledge parse error is retryable), one minute apart",
    cozebus: "dead-lettered at once with the reason",
    why: "retrying cannot fix bytes",
  },
  {
    what: "message properties",
    go: "none sent; the consumer reads only Payload()",
    cozebus: "ce-id, ce-type, ce-source, ce-time, ce-specversion, content-type (Go ignores them)",
    why: "the bridge and cozebus consumers identify a message by ce-id",
  },
  {
    what: "retention",
    go: "Pulsar's default (set on the broker, not by Go): nothing once acknowledged; a topic without subscriptions keeps nothing",
    cozebus: "the same (doctor shows the namespace's policy); the NATS half keeps 24 h in the stream",
    why: "the broker's policy is the operator's; cozebus does not change it",
  },
];

/** Environment checks only (no broker needed). */
export function checkCozeStudioPulsarEnv(env: Env = process.env): CozeCheck[] {
  const checks: CozeCheck[] = [];
  const mq = env["COZE_MQ_TYPE"];
  if (mq === "pulsar") checks.push({ status: "ok", subject: "env COZE_MQ_TYPE", message: "pulsar" });
  else checks.push({ status: "fail", subject: "env COZE_MQ_TYPE", message: `${JSON.stringify(mq ?? "")}: Coze's Go services use Pulsar only for exactly "pulsar"` });
  const name = env["MQ_NAME_SERVER"]?.trim();
  if (!name) checks.push({ status: "fail", subject: "env MQ_NAME_SERVER", message: "unset: Coze's Go services connect only to MQ_NAME_SERVER (pulsar://host:6650)" });
  else if (!/^pulsar(\+ssl)?:\/\//.test(name)) checks.push({ status: "warn", subject: "env MQ_NAME_SERVER", message: `${name}: Coze's Go client needs a pulsar:// or pulsar+ssl:// URL (cozebus adds pulsar:// to a bare host:port, Go does not)` });
  else checks.push({ status: "ok", subject: "env MQ_NAME_SERVER", message: name });
  const psu = env["PULSAR_SERVICE_URL"]?.trim();
  if (psu) checks.push({ status: "info", subject: "env PULSAR_SERVICE_URL", message: `${psu}: in Coze's .env.example, but its Go code never reads it (only MQ_NAME_SERVER); cozebus does not either` });
  for (const v of ["PULSAR_TENANT", "PULSAR_NAMESPACE"]) {
    const x = env[v]?.trim();
    if (x) checks.push({ status: "info", subject: `env ${v}`, message: `${x}: Coze's topics are bare names, always in ${GO_TENANT}/${GO_NAMESPACE}; @cozebus/coze-studio uses ${GO_TENANT}/${GO_NAMESPACE} whatever this says (it applies to cozebus's typed topics only)` });
  }
  if (env["PULSAR_JWT_TOKEN"]?.trim()) checks.push({ status: "ok", subject: "env PULSAR_JWT_TOKEN", message: "set (both sides send it as the token)" });
  return checks;
}

interface TopicStats {
  readonly subscriptions?: Record<string, { readonly type?: string; readonly consumers?: unknown[]; readonly msgBacklog?: number }>;
}

async function getJson<T>(admin: Admin, path: string): Promise<{ status: number; body: T | undefined }> {
  const res = await admin.rest.call("GET", path);
  if (res.status !== 200 || res.body.length === 0) return { status: res.status, body: undefined };
  try {
    return { status: res.status, body: res.json<T>() };
  } catch {
    return { status: res.status, body: undefined }; // e.g. `null` for a namespace without a retention policy
  }
}

const local = (full: string): string => encodeURIComponent(full.replace(/^persistent:\/\/[^/]+\/[^/]+\//, ""));

/** Checks a Pulsar deployment against what Coze's Go code expects; `ok` is false only for what breaks one side. */
export async function checkCozeStudioPulsar(admin: Admin, options: PulsarCheckOptions = {}): Promise<PulsarCheckReport> {
  const checks = checkCozeStudioPulsarEnv(options.env ?? process.env);
  const ns = `/admin/v2/namespaces/${GO_TENANT}/${GO_NAMESPACE}`;
  const retention = await getJson<{ retentionTimeInMinutes?: number; retentionSizeInMB?: number }>(admin, `${ns}/retention`);
  const r = retention.body ?? {};
  checks.push({
    status: "info",
    subject: `namespace ${GO_TENANT}/${GO_NAMESPACE} retention`,
    message:
      !r.retentionTimeInMinutes && !r.retentionSizeInMB
        ? "none (Pulsar's default): a message is kept only while a subscription has not acknowledged it, and a subscription created later starts after it; the NATS half keeps 24 h / 1,000,000 messages / 1 GiB in the stream whoever has read it"
        : `${r.retentionTimeInMinutes ?? 0} min / ${r.retentionSizeInMB ?? 0} MB after acknowledgement (the NATS half keeps 24 h / 1,000,000 messages / 1 GiB)`,
  });
  const topics = options.topics ?? COZE_TOPICS.map((t) => ({ topic: t.topic, group: t.group }));
  for (const { topic, group } of topics) {
    const full = pulsarTopicOf(topic);
    const base = `/admin/v2/persistent/${GO_TENANT}/${GO_NAMESPACE}/${local(full)}`;
    const parts = await getJson<{ partitions?: number }>(admin, `${base}/partitions`);
    const stats = await getJson<TopicStats>(admin, `${base}/stats`);
    if (stats.status === 404) {
      const p = parts.body?.partitions ?? 0;
      checks.push(
        p > 0
          ? { status: "warn", subject: `topic ${full}`, message: `partitioned (${p} partitions): Go's client handles it, cozebus's WebSocket consumers read the partitions separately; checked no further` }
          : { status: "info", subject: `topic ${full}`, message: "missing: the first producer or consumer of either side creates it (non-partitioned)" },
      );
      continue;
    }
    checks.push({ status: "ok", subject: `topic ${full}`, message: "exists (non-partitioned, as Go's client auto-creates it)" });
    const subs = stats.body?.subscriptions ?? {};
    for (const g of [group, ...(options.extraGroups ?? [])]) {
      const s = subs[g];
      let status: CheckStatus = "ok";
      let message: string;
      if (s === undefined) message = "no subscription yet: the first consumer of the group creates it (cozebus: at the earliest retained message; Go: at the latest)";
      else if (s.type === "Exclusive") message = `Exclusive, ${s.consumers?.length ?? 0} consumer(s), backlog ${s.msgBacklog ?? 0}: Coze's Go consumer (one replica only); a cozebus consumer cannot join this group`;
      else if (s.type === "Shared") message = `Shared, ${s.consumers?.length ?? 0} consumer(s), backlog ${s.msgBacklog ?? 0}: cozebus's; a Go consumer of this group is refused (it subscribes Exclusive) while cozebus consumers are connected`;
      else {
        status = "warn";
        message = `${s.type ?? "unknown"} type: neither side creates this (Go: Exclusive, cozebus: Shared)`;
      }
      if (s !== undefined && (s.consumers?.length ?? 0) === 0 && (s.msgBacklog ?? 0) > 0) status = "warn";
      checks.push({ status, subject: `subscription ${g} on ${topic}`, message });
      const dlq = deadLetterTopicOf(topic, g);
      const d = await getJson<TopicStats>(admin, `/admin/v2/persistent/${GO_TENANT}/${GO_NAMESPACE}/${local(dlq)}/stats`);
      if (d.status === 200) {
        const kept = d.body?.subscriptions?.[DLQ_SUBSCRIPTION];
        checks.push(
          kept === undefined
            ? { status: "warn", subject: `topic ${dlq}`, message: `no ${DLQ_SUBSCRIPTION} subscription: Pulsar keeps no dead letters without one` }
            : { status: (kept.msgBacklog ?? 0) > 0 ? "warn" : "ok", subject: `topic ${dlq}`, message: `dead letters: ${kept.msgBacklog ?? 0} message(s) (Coze's Go code has none)` },
        );
      }
    }
  }
  for (const d of PULSAR_KNOWN_DIFFERENCES) checks.push({ status: "info", subject: `differs: ${d.what}`, message: `Go: ${d.go}; cozebus: ${d.cozebus} (${d.why})` });
  return { checks, ok: checks.every((c) => c.status !== "fail") };
}
