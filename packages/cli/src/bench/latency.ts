import { AckPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { HEADER, PROTOBUF, openBus, type Bus } from "@cozebus/nats";
import { workflow } from "@cozebus/workflow";
import type { BenchTarget } from "./measure.js";
import { Recorder, fixedRate, loopMonitor, type Percentiles } from "./percentiles.js";

/** Subjects and streams of the typed side live under this root, so a configured server's own `coze.*` is never touched. */
export const BENCH_PREFIX = "cozebus_bench";
/** The typed side's stream (the workflow domain provisioned under BENCH_PREFIX). */
export const TYPED_STREAM = "COZEBUS_BENCH_WORKFLOW";
const RAW_STREAM = "COZEBUS_BENCH_LATENCY_RAW";
const RAW_SUBJECT = "cozebus_bench.latency.raw";
/** After the last send, how long the stragglers may take before the run counts as lossy. */
const DRAIN_MS = 30_000;

export type LatencyPath = "jetstream" | "core";

/** One path at one offered rate: both sides (and the Go client when it ran), percentiles in ms. */
export interface LatencyLine {
  readonly bench: string;
  readonly path: LatencyPath;
  readonly rate: number;
  readonly seconds: number;
  readonly unit: "ms";
  readonly ours: Percentiles;
  readonly raw: Percentiles;
  go?: Percentiles;
  /** cozebus p99 / raw p99 (lower is better for cozebus). */
  readonly p99Ratio: number;
  readonly target?: string;
}

/** Raw payloads carry the due time (float64) and the index (uint32) in their first 12 bytes. */
function rawPayload(size: number, index: number, due: number): Uint8Array {
  const buf = new Uint8Array(Math.max(12, size));
  const view = new DataView(buf.buffer);
  view.setFloat64(0, due, true);
  view.setUint32(8, index, true);
  return buf;
}

function readRaw(data: Uint8Array): { index: number; due: number } {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { due: view.getFloat64(0, true), index: view.getUint32(8, true) };
}

/** The CloudEvents headers cozebus sends, built per message as a raw user would (see core.ts). */
export function rawEventHeaders(id: string): ReturnType<typeof headers> {
  const h = headers();
  h.set(HEADER.id, id);
  h.set(HEADER.msgId, id);
  h.set(HEADER.type, "bench.Event");
  h.set(HEADER.source, "bench");
  h.set(HEADER.specversion, "1.0");
  h.set(HEADER.time, new Date().toISOString());
  h.set(HEADER.contentType, PROTOBUF);
  return h;
}

/** Padding that brings a typed message near `size` bytes encoded (the fields themselves take ~30). */
export const padTo = (size: number): string => "x".repeat(Math.max(0, size - 40));

/** The two sides, each with its own connection on the same server. */
export interface LatencyRig {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly bus: Bus;
  readonly wf: ReturnType<typeof workflow>;
  close(): Promise<void>;
}

export async function openRig(t: BenchTarget): Promise<LatencyRig> {
  const nc = await connect(t.raw);
  const bus = await openBus({ ...t.ours, subjectPrefix: BENCH_PREFIX });
  const jsm = await jetstreamManager(nc);
  return {
    nc,
    js: jetstream(nc),
    jsm,
    bus,
    wf: workflow(bus.transport),
    async close() {
      // provision() also made the prefix's dead-letter stream.
      for (const s of [RAW_STREAM, TYPED_STREAM, "COZEBUS_BENCH_DLQ"]) await jsm.streams.delete(s).catch(() => undefined);
      await bus.close();
      await nc.close();
    },
  };
}

/** A fresh, empty typed stream (a new group would otherwise start at the previous run's events). */
export async function freshTypedStream(rig: LatencyRig): Promise<void> {
  await rig.jsm.streams.delete(TYPED_STREAM).catch(() => undefined);
  await rig.wf.provision();
}

async function settle(what: string, pending: Array<Promise<unknown>>): Promise<void> {
  const results = await Promise.allSettled(pending);
  const failed = results.filter((r) => r.status === "rejected");
  if (failed.length > 0) throw new Error(`${what}: ${failed.length} of ${pending.length} publishes failed, first: ${String((failed[0] as PromiseRejectedResult).reason)}`);
}

/** Raw nats.js: js.publish (acks counted, not awaited per event) -> a durable pull consumer via consume(), ack each. */
async function rawJetStream(rig: LatencyRig, rate: number, seconds: number, size: number): Promise<Percentiles> {
  await rig.jsm.streams.delete(RAW_STREAM).catch(() => undefined);
  await rig.jsm.streams.add({ name: RAW_STREAM, subjects: [RAW_SUBJECT], max_bytes: 512 * 1024 ** 2 });
  await rig.jsm.consumers.add(RAW_STREAM, { durable_name: "raw", ack_policy: AckPolicy.Explicit });
  const consumer = await rig.js.consumers.get(RAW_STREAM, "raw");
  const rec = new Recorder(Math.max(1, Math.round(rate * seconds)));
  const messages = await consumer.consume();
  const reading = (async () => {
    for await (const m of messages) {
      const { index, due } = readRaw(m.data);
      rec.record(index, due);
      m.ack();
      if (rec.count === rec.expected) break;
    }
  })();
  const pending: Array<Promise<unknown>> = [];
  const loop = loopMonitor();
  const sent = await fixedRate(rate, seconds, (i, due) => void pending.push(rig.js.publish(RAW_SUBJECT, rawPayload(size, i, due))));
  await rec.wait("raw nats.js jetstream latency", DRAIN_MS);
  loop.disable();
  await settle("raw nats.js jetstream publish", pending);
  await reading;
  await rig.jsm.streams.delete(RAW_STREAM);
  return rec.summary(sent, loop);
}

/** cozebus typed: executionStarted.publish -> executionStarted.subscribe with a durable group. */
async function typedJetStream(rig: LatencyRig, rate: number, seconds: number, size: number, round: number): Promise<Percentiles> {
  await freshTypedStream(rig);
  const rec = new Recorder(Math.max(1, Math.round(rate * seconds)));
  const sub = await rig.wf.executionStarted.subscribe((e) => rec.record(Number(e.version), Number(e.executeId) / 1000), { group: `latency_${round}` });
  const pad = { pad: padTo(size) };
  const pending: Array<Promise<unknown>> = [];
  const loop = loopMonitor();
  try {
    const sent = await fixedRate(rate, seconds, (i, due) =>
      void pending.push(rig.wf.executionStarted.publish({ workflowId: "wf", executeId: BigInt(Math.round(due * 1000)), version: String(i), inputs: pad })),
    );
    await rec.wait("cozebus jetstream latency", DRAIN_MS);
    loop.disable();
    await settle("cozebus jetstream publish", pending);
    return rec.summary(sent, loop);
  } finally {
    await sub.stop();
  }
}

/** Raw nats.js core publish (same CloudEvents headers) -> subscribe. */
async function rawCore(rig: LatencyRig, rate: number, seconds: number, size: number, round: number): Promise<Percentiles> {
  const subject = `cozebus_bench.latency.core.${round}`;
  const rec = new Recorder(Math.max(1, Math.round(rate * seconds)));
  const sub = rig.nc.subscribe(subject, {
    callback: (_, m) => {
      const { index, due } = readRaw(m.data);
      rec.record(index, due);
    },
  });
  await rig.nc.flush();
  const loop = loopMonitor();
  try {
    const sent = await fixedRate(rate, seconds, (i, due) => rig.nc.publish(subject, rawPayload(size, i, due), { headers: rawEventHeaders(`raw-${round}-${i}`) }));
    await rec.wait("raw nats.js core latency", DRAIN_MS);
    loop.disable();
    return rec.summary(sent, loop);
  } finally {
    sub.unsubscribe();
  }
}

/** cozebus typed at-most-once: nodeStarted.publish -> nodeStarted.subscribe. */
async function typedCore(rig: LatencyRig, rate: number, seconds: number, size: number, round: number): Promise<Percentiles> {
  const rec = new Recorder(Math.max(1, Math.round(rate * seconds)));
  const workflowId = `core${round}`;
  const sub = await rig.wf.nodeStarted.subscribe((e) => rec.record(Number(e.nodeId.slice(0, e.nodeId.indexOf("."))), Number(e.executeId) / 1000), { group: `latency_${round}`, filter: { workflowId } });
  const pad = padTo(size);
  const pending: Array<Promise<unknown>> = [];
  const loop = loopMonitor();
  try {
    const sent = await fixedRate(rate, seconds, (i, due) => void pending.push(rig.wf.nodeStarted.publish({ workflowId, executeId: BigInt(Math.round(due * 1000)), nodeId: `${i}.${pad}` })));
    await rec.wait("cozebus core latency", DRAIN_MS);
    loop.disable();
    await settle("cozebus core publish", pending);
    return rec.summary(sent, loop);
  } finally {
    await sub.stop();
  }
}

/** One side of one run (for profiling a side alone: `node --cpu-prof` on a script that calls this). */
export function latencyRun(rig: LatencyRig, path: LatencyPath, side: "ours" | "raw", rate: number, seconds: number, size: number, round: number): Promise<Percentiles> {
  if (path === "jetstream") return side === "raw" ? rawJetStream(rig, rate, seconds, size) : typedJetStream(rig, rate, seconds, size, round);
  return side === "raw" ? rawCore(rig, rate, seconds, size, round) : typedCore(rig, rate, seconds, size, round);
}

const LABEL: Record<LatencyPath, string> = {
  jetstream: "fixed-rate latency, jetstream publish -> durable consumer handler",
  core: "fixed-rate latency, core publish -> subscribe",
};

/**
 * One path at each offered rate: raw and cozebus one after the other (never
 * at once: they would load each other), which goes first alternating by rate,
 * on the same server with the same payload size.
 */
export async function benchLatency(rig: LatencyRig, path: LatencyPath, rates: readonly number[], seconds: number, size: number, round0 = 0): Promise<LatencyLine[]> {
  const lines: LatencyLine[] = [];
  for (const [k, rate] of rates.entries()) {
    const round = round0 + k;
    const raw = (): Promise<Percentiles> => latencyRun(rig, path, "raw", rate, seconds, size, round);
    const ours = (): Promise<Percentiles> => latencyRun(rig, path, "ours", rate, seconds, size, round);
    let r: Percentiles;
    let o: Percentiles;
    if (k % 2 === 0) {
      r = await raw();
      o = await ours();
    } else {
      o = await ours();
      r = await raw();
    }
    lines.push({
      bench: LABEL[path],
      path,
      rate,
      seconds,
      unit: "ms",
      ours: o,
      raw: r,
      p99Ratio: Number((o.p99 / r.p99).toFixed(2)),
      ...(path === "jetstream" && rate === 5000 ? { target: "p99 <= raw, < 10 ms" } : {}),
    });
  }
  return lines;
}
