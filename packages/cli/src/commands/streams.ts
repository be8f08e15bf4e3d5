import { compareStream, provisionedBy, type Bus, type StreamDrift } from "@cozebus/nats";
import type { ConsumerInfo, StreamInfo } from "@nats-io/jetstream";
import { connectBus, type GlobalFlags } from "../connect.js";
import { wantedStreams } from "../domains.js";
import { usageError } from "../errors.js";

const USAGE = "usage: cozebus streams apply | list | info [stream] | prune [stream] [--yes] [--force] [--json]";

/**
 * `cozebus streams apply` creates or reconciles every domain's stream and the
 * dead-letter stream (replicas from NATS_STREAM_REPLICAS); `streams list`
 * shows each stream's messages and its consumers' pending and redelivered
 * counts; `streams info` adds the limits, the cluster state, the builds that
 * provisioned it and whether it still matches what the schemas want.
 * Provisioning is additive (rolling upgrades); `streams prune` lists what it
 * kept that these schemas do not need, and removes it with --yes.
 */
export async function streamsCommand(args: readonly string[], flags: StreamsFlags): Promise<number> {
  const [sub, name, ...rest] = args;
  if (rest.length > 0 || (sub !== "info" && sub !== "prune" && name !== undefined)) throw usageError(USAGE);
  if (sub !== "apply" && sub !== "list" && sub !== "info" && sub !== "prune") throw usageError(USAGE);
  if ((flags.yes || flags.force) && sub !== "prune") throw usageError(`--yes and --force belong to streams prune; ${USAGE}`);
  const bus = await connectBus(flags);
  try {
    if (sub === "apply") return await apply(bus, flags);
    if (sub === "list") return await list(bus, flags);
    if (sub === "prune") return await prune(bus, flags, name);
    return await info(bus, flags, name);
  } finally {
    await bus.drain().catch(() => undefined);
  }
}

export interface StreamsFlags extends GlobalFlags {
  /** streams prune: make the changes (without it, only list them). */
  readonly yes?: boolean;
  /** streams prune: apply although newer builds provisioned the stream. */
  readonly force?: boolean;
}

async function apply(bus: Bus, flags: GlobalFlags): Promise<number> {
  const js = await bus.jetstream();
  for (const { spec, builds } of await wantedStreams(bus)) {
    const r = await js.ensureStream(spec, { build: builds });
    if (flags.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else {
      process.stdout.write(`${r.stream}: ${r.action}${r.changed.length ? ` (${r.changed.join("; ")})` : ""}\n`);
      for (const c of r.conflicts) process.stdout.write(`  kept: ${c}\n`);
    }
  }
  return 0;
}

/** Lists (and with --yes makes) the changes that bring each stream down to exactly what these schemas want. */
async function prune(bus: Bus, flags: StreamsFlags, only: string | undefined): Promise<number> {
  const js = await bus.jetstream();
  const wanted = (await wantedStreams(bus)).filter((w) => only === undefined || w.spec.name === only);
  if (only !== undefined && wanted.length === 0) {
    process.stderr.write(`cozebus: ${only} is not a stream of these schemas (cozebus streams list shows the server's)\n`);
    return 1;
  }
  let pending = 0;
  for (const { spec, builds } of wanted) {
    const check = await js.checkStream(spec);
    if (check.status === "missing") {
      if (!flags.json) process.stdout.write(`${spec.name}: does not exist (cozebus streams apply creates it)\n`);
      continue;
    }
    // The shared DLQ stream is wanted by every domain; only a domain stream is tied to one package's versions.
    const plan = await js.pruneStream(spec, { apply: flags.yes === true, force: flags.force === true, ...(builds.length === 1 ? { build: builds[0]! } : {}) });
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(plan)}\n`);
    } else if (plan.empty) {
      process.stdout.write(`${plan.stream}: nothing to prune\n`);
    } else {
      process.stdout.write(`${plan.stream}: ${plan.applied ? "pruned" : "would prune"}\n`);
      for (const c of plan.changes) process.stdout.write(`  ${c.change}\n      because ${c.reason}\n`);
      if (plan.newerBuilds.length > 0) process.stdout.write(`  newer builds provisioned it: ${plan.newerBuilds.join(", ")} — prune from the newest build\n`);
    }
    if (!plan.applied) pending += plan.changes.length;
  }
  if (!flags.yes && pending > 0 && !flags.json) process.stdout.write(`\n${pending} change(s) listed; nothing changed. Run again with --yes to make them.\n`);
  return 0;
}

async function list(bus: Bus, flags: GlobalFlags): Promise<number> {
  const js = await bus.jetstream();
  for await (const s of js.jsm.streams.list()) {
    const consumers = [];
    for await (const c of js.jsm.consumers.list(s.config.name)) {
      consumers.push({ name: c.name, pending: c.num_pending, ackPending: c.num_ack_pending, redelivered: c.num_redelivered });
    }
    const row = { stream: s.config.name, subjects: s.config.subjects, messages: s.state.messages, bytes: s.state.bytes, replicas: s.config.num_replicas, consumers };
    if (flags.json) process.stdout.write(`${JSON.stringify(row)}\n`);
    else {
      process.stdout.write(`${row.stream}  messages ${row.messages}  bytes ${row.bytes}  replicas ${row.replicas}\n`);
      for (const c of consumers) process.stdout.write(`  consumer ${c.name}  pending ${c.pending}  ack pending ${c.ackPending}  redelivered ${c.redelivered}\n`);
    }
  }
  return 0;
}

const seconds = (ns: number): string => `${ns / 1e9}s`;

/** One stream in full: limits, state, cluster, schema match and consumers. */
function describeStream(s: StreamInfo, drift: StreamDrift | undefined, consumers: readonly ConsumerInfo[]) {
  const c = s.config;
  const differences = drift ? [...drift.fixed, ...drift.missingSubjects.map((x) => `subjects: + ${x}`), ...drift.raise] : [];
  const kept = drift ? [...drift.capturesRequests, ...drift.extraSubjects.map((x) => `subject ${x} is not one these schemas publish on (cozebus streams prune)`), ...drift.conflicts] : [];
  return {
    stream: c.name,
    subjects: c.subjects,
    schema: drift === undefined ? "not a cozebus stream" : differences.length > 0 ? "differs" : kept.length > 0 ? "matches, with more than it needs" : "matches",
    drift: differences,
    kept,
    provisioned_by: provisionedBy(c),
    limits: {
      retention: c.retention,
      storage: c.storage,
      discard: c.discard,
      max_age: seconds(c.max_age),
      max_bytes: c.max_bytes,
      max_msgs: c.max_msgs,
      max_msg_size: c.max_msg_size,
      duplicate_window: seconds(c.duplicate_window),
      replicas: c.num_replicas,
    },
    state: {
      messages: s.state.messages,
      bytes: s.state.bytes,
      first_seq: s.state.first_seq,
      last_seq: s.state.last_seq,
      first_time: s.state.first_ts,
      last_time: s.state.last_ts,
    },
    cluster: s.cluster
      ? { leader: s.cluster.leader ?? null, replicas: (s.cluster.replicas ?? []).map((r) => ({ name: r.name, current: r.current, lag: r.lag ?? 0 })) }
      : null,
    consumers: consumers.map((ci) => ({
      name: ci.name,
      filter: ci.config.filter_subject ?? ci.config.filter_subjects?.join(",") ?? ">",
      ack_wait: seconds(ci.config.ack_wait ?? 0),
      max_deliver: ci.config.max_deliver ?? -1,
      pending: ci.num_pending,
      ack_pending: ci.num_ack_pending,
      redelivered: ci.num_redelivered,
      waiting_pulls: ci.num_waiting,
      delivered_seq: ci.delivered.stream_seq,
    })),
  };
}

async function info(bus: Bus, flags: GlobalFlags, only: string | undefined): Promise<number> {
  const js = await bus.jetstream();
  const wanted = new Map((await wantedStreams(bus)).map((w) => [w.spec.name, w.spec]));
  // The listing already carries each stream's info; one stream by name is fetched on its own.
  const infos: StreamInfo[] = [];
  if (only === undefined) for await (const s of js.jsm.streams.list()) infos.push(s);
  else {
    try {
      infos.push(await js.jsm.streams.info(only));
    } catch {
      const fix = wanted.has(only) ? "run cozebus streams apply" : "see cozebus streams list for the streams on this server";
      process.stderr.write(`cozebus: stream ${only} does not exist: ${fix}\n`);
      return 1;
    }
  }
  for (const s of infos) {
    const name = s.config.name;
    const spec = wanted.get(name);
    const drift = spec ? compareStream(s.config, spec) : undefined;
    const consumers: ConsumerInfo[] = [];
    for await (const ci of js.jsm.consumers.list(name)) consumers.push(ci);
    const d = describeStream(s, drift, consumers);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(d)}\n`);
      continue;
    }
    const out = (line: string): void => void process.stdout.write(`${line}\n`);
    out(`${d.stream}  (${d.subjects.join(", ")})`);
    out(`  schemas      ${d.schema}${d.drift.length ? `: ${d.drift.join("; ")} (cozebus streams apply)` : ""}`);
    for (const k of d.kept) out(`  kept         ${k}`);
    out(`  provisioned  ${d.provisioned_by.length > 0 ? d.provisioned_by.map((b) => `${b.build} (since ${b.since})`).join(", ") : "no build recorded (nats-server < 2.10 keeps no stream metadata, or provisioned by another tool)"}`);
    out(`  limits       ${Object.entries(d.limits).map(([k, v]) => `${k} ${v}`).join("  ")}`);
    out(`  state        messages ${d.state.messages}  bytes ${d.state.bytes}  seq ${d.state.first_seq}..${d.state.last_seq}  last ${d.state.last_time}`);
    if (d.cluster) out(`  cluster      leader ${d.cluster.leader ?? "none"}  ${d.cluster.replicas.map((r) => `${r.name} ${r.current ? "current" : `behind ${r.lag}`}`).join("  ")}`);
    for (const ci of d.consumers) {
      out(`  consumer     ${ci.name}  filter ${ci.filter}  ack wait ${ci.ack_wait}  max deliver ${ci.max_deliver}`);
      out(`               pending ${ci.pending}  ack pending ${ci.ack_pending}  redelivered ${ci.redelivered}  waiting pulls ${ci.waiting_pulls}`);
    }
  }
  return 0;
}
