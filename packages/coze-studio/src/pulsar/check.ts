/**
 * `doctor` for a Coze Studio deployment on Pulsar: the environment as Coze's
 * Go code reads it, each topic (exists, partitioned or not), each group's
 * subscription and its type (Go: Exclusive, cozebus: Shared, and why they
 * cannot share one), the group's dead letters, and retention compared with
 * what the NATS half keeps. Reads only; never changes anything.
 */
import type { Admin } from "@cozebus/pulsar";
import type { CheckStatus, CozeCheck } from "../nats/check.js";
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
  return { checks, ok: checks.every((c) => c.status !== "fail") };
}
