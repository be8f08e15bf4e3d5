import { compareStream, type Bus, type StreamDrift } from "@cozebus/nats";
import type { ConsumerInfo, StreamInfo } from "@nats-io/jetstream";
import { connectBus, type GlobalFlags } from "../connect.js";
import { wantedStreams } from "../domains.js";
import { usageError } from "../errors.js";

const USAGE = "usage: cozebus streams apply | list | info [stream] [--json]";

/**
 * `cozebus streams apply` creates or reconciles every domain's stream and the
 * dead-letter stream (replicas from NATS_STREAM_REPLICAS); `streams list`
 * shows each stream's messages and its consumers' pending and redelivered
 * counts; `streams info` adds the limits, the cluster state and whether the
 * stream still matches what the schemas want.
 */
export async function streamsCommand(args: readonly string[], flags: GlobalFlags): Promise<number> {
  const [sub, name, ...rest] = args;
  if (rest.length > 0 || (sub !== "info" && name !== undefined)) throw usageError(USAGE);
  if (sub !== "apply" && sub !== "list" && sub !== "info") throw usageError(USAGE);
  const bus = await connectBus(flags);
  try {
    if (sub === "apply") return await apply(bus, flags);
    if (sub === "list") return await list(bus, flags);
    return await info(bus, flags, name);
  } finally {
    await bus.drain().catch(() => undefined);
  }
}

async function apply(bus: Bus, flags: GlobalFlags): Promise<number> {
  const js = await bus.jetstream();
  for (const spec of await wantedStreams(bus)) {
    const r = await js.ensureStream(spec);
    if (flags.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else process.stdout.write(`${r.stream}: ${r.action}${r.changed.length ? ` (${r.changed.join("; ")})` : ""}\n`);
  }
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
  const differences = drift ? [...drift.fixed, ...drift.updatable] : [];
  return {
    stream: c.name,
    subjects: c.subjects,
    schema: drift === undefined ? "not a cozebus stream" : differences.length > 0 ? "differs" : "matches",
    drift: differences,
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
  const wanted = new Map((await wantedStreams(bus)).map((s) => [s.name, s]));
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
