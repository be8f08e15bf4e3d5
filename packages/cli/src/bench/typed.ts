import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { NatsKvInboxStore } from "@cozebus/nats";
import { compare, lossCheck, rate, type BenchLine } from "./measure.js";
import { freshTypedStream, padTo, rawEventHeaders, type LatencyRig } from "./latency.js";
import { percentiles, type Percentiles } from "./percentiles.js";

const ROUND_TIMEOUT_MS = 30_000;

function waitFor(n: number, count: () => number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ROUND_TIMEOUT_MS;
    const tick = (): void => {
      if (count() >= n) resolve();
      else if (Date.now() > deadline) reject(new Error(`${what}: ${count()} of ${n} messages arrived within ${ROUND_TIMEOUT_MS} ms`));
      else setTimeout(tick, 1);
    };
    tick();
  });
}

/** Request/reply round trips, one at a time, typed operation against raw nats.js request + respond. */
export interface RequestReplyLine {
  readonly bench: string;
  readonly unit: "ms";
  readonly ours: Percentiles;
  readonly raw: Percentiles;
  readonly p99Ratio: number;
}

export async function benchRequestReply(rig: LatencyRig, n: number, rounds: number): Promise<RequestReplyLine> {
  const subject = "cozebus_bench.rr.raw";
  const reply = new Uint8Array(16).fill(7);
  const responder = rig.nc.subscribe(subject, { callback: (_, m) => void m.respond(reply) });
  const served = await rig.wf.getExecutionStatus.serve(() => ({ status: 2, nodesCompleted: 3, currentNodeId: "n" }));
  await rig.nc.flush();
  const per = Math.max(1, Math.floor(n / rounds));
  const raw = new Float64Array(per * rounds);
  const ours = new Float64Array(per * rounds);
  let r = 0;
  let o = 0;
  const payload = new Uint8Array(16).fill(1);
  const rawRound = async (): Promise<void> => {
    for (let i = 0; i < per; i++) {
      const t0 = performance.now();
      await rig.nc.request(subject, payload, { timeout: 5000 });
      raw[r++] = performance.now() - t0;
    }
  };
  const oursRound = async (): Promise<void> => {
    for (let i = 0; i < per; i++) {
      const t0 = performance.now();
      await rig.wf.getExecutionStatus.request({ workflowId: "wf", executeId: BigInt(i) });
      ours[o++] = performance.now() - t0;
    }
  };
  try {
    for (let k = 0; k < rounds; k++) {
      if (k % 2 === 0) await rawRound().then(oursRound);
      else await oursRound().then(rawRound);
    }
  } finally {
    responder.unsubscribe();
    await served.stop();
  }
  const po = percentiles(ours, o, o);
  const pr = percentiles(raw, r, r);
  return { bench: "request/reply round trip, one at a time", unit: "ms", ours: po, raw: pr, p99Ratio: Number((po.p99 / pr.p99).toFixed(2)) };
}

/** Core publish -> subscribe throughput at one payload size, typed nodeStarted against raw with the same headers. */
export async function benchPayloadSize(rig: LatencyRig, size: number, n: number, rounds: number): Promise<BenchLine> {
  // Large payloads: fewer of them, and a flush every 64 so neither side has the server cut it off as a slow consumer.
  const count = Math.max(50, Math.min(n, Math.floor((32 * 1024 ** 2) / size)));
  const raw = new Uint8Array(size).fill(42);
  const pad = padTo(size);
  const label = size >= 1024 ? `${size / 1024} KiB` : `${size} B`;
  return compare(
    `core publish -> subscribe ${label}, typed vs raw`,
    rounds,
    async (round) => {
      const subject = `cozebus_bench.size.${size}.${round}`;
      let got = 0;
      const sub = rig.nc.subscribe(subject, { callback: () => void got++ });
      await rig.nc.flush();
      const r = await rate(count, async () => {
        for (let i = 0; i < count; i++) {
          rig.nc.publish(subject, raw, { headers: rawEventHeaders(`raw-${i}`) });
          if (i % 64 === 63) await rig.nc.flush();
        }
        await waitFor(count, () => got, "raw core");
      });
      sub.unsubscribe();
      lossCheck(`raw core ${label}`, got, count);
      return r;
    },
    async (round) => {
      const workflowId = `size${size}_${round}`;
      let got = 0;
      const sub = await rig.wf.nodeStarted.subscribe(() => void got++, { group: "size", filter: { workflowId } });
      const r = await rate(count, async () => {
        for (let i = 0; i < count; i++) {
          void rig.wf.nodeStarted.publish({ workflowId, executeId: BigInt(i), nodeId: pad });
          if (i % 64 === 63) await rig.bus.nats.flush();
        }
        await waitFor(count, () => got, "cozebus core");
      });
      await sub.stop();
      lossCheck(`cozebus core ${label}`, got, count);
      return r;
    },
  ).then((l) => ({ ...l, messages: count }));
}

/**
 * `subs` typed subscriptions, each filtered to its own workflow id, and the
 * events spread over all of them; raw: as many plain subscriptions on the
 * same concrete subjects. Measures delivery throughput.
 */
export async function benchFiltered(rig: LatencyRig, subs: number, n: number, rounds: number): Promise<BenchLine> {
  const payload = new Uint8Array(64).fill(3);
  return compare(
    `core ${subs} filtered subscription${subs === 1 ? "" : "s"}, events spread over them`,
    rounds,
    async (round) => {
      let got = 0;
      const list = Array.from({ length: subs }, (_, k) => rig.nc.subscribe(`cozebus_bench.filter_raw${round}.f${k}.node_started`, { callback: () => void got++ }));
      await rig.nc.flush();
      const r = await rate(n, async () => {
        for (let i = 0; i < n; i++) rig.nc.publish(`cozebus_bench.filter_raw${round}.f${i % subs}.node_started`, payload, { headers: rawEventHeaders(`raw-${i}`) });
        await waitFor(n, () => got, "raw filtered");
      });
      for (const s of list) s.unsubscribe();
      lossCheck("raw filtered", got, n);
      return r;
    },
    async (round) => {
      let got = 0;
      const list = await Promise.all(Array.from({ length: subs }, (_, k) => rig.wf.nodeStarted.subscribe(() => void got++, { group: "filtered", filter: { workflowId: `r${round}f${k}` } })));
      const r = await rate(n, async () => {
        for (let i = 0; i < n; i++) void rig.wf.nodeStarted.publish({ workflowId: `r${round}f${i % subs}`, executeId: BigInt(i), nodeId: "n" });
        await waitFor(n, () => got, "cozebus filtered");
      });
      await Promise.all(list.map((s) => s.stop()));
      lossCheck("cozebus filtered", got, n);
      return r;
    },
  );
}

/** Memory of this process after `counts` events through one typed subscription, measured after a full GC. */
export interface MemoryLine {
  readonly bench: string;
  readonly unit: "MB";
  readonly points: ReadonlyArray<{ readonly events: number; readonly rss: number; readonly heapUsed: number; readonly rssGrowth: number; readonly heapGrowth: number }>;
  readonly target: string;
}

function collect(): () => void {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  return () => {
    gc();
    gc();
  };
}

export async function benchMemory(rig: LatencyRig, counts: readonly number[]): Promise<MemoryLine> {
  const gc = collect();
  const mb = (b: number): number => Math.round((b / 1024 ** 2) * 10) / 10;
  let got = 0;
  const workflowId = "memory";
  const sub = await rig.wf.nodeStarted.subscribe(() => void got++, { group: "memory", filter: { workflowId } });
  const points: Array<MemoryLine["points"][number]> = [];
  try {
    // A warm-up, so the baseline already holds the JIT's code and the connection's buffers.
    let sent = 0;
    const pump = async (until: number): Promise<void> => {
      while (sent < until) {
        const chunk = Math.min(2_000, until - sent);
        for (let i = 0; i < chunk; i++) void rig.wf.nodeStarted.publish({ workflowId, executeId: BigInt(sent + i), nodeId: "n" });
        sent += chunk;
        await waitFor(sent, () => got, "memory");
      }
    };
    await pump(2_000);
    await new Promise((r) => setTimeout(r, 50));
    gc();
    const base = process.memoryUsage();
    for (const c of counts) {
      await pump(2_000 + c);
      await new Promise((r) => setTimeout(r, 50));
      gc();
      const m = process.memoryUsage();
      points.push({ events: c, rss: mb(m.rss), heapUsed: mb(m.heapUsed), rssGrowth: mb(m.rss - base.rss), heapGrowth: mb(m.heapUsed - base.heapUsed) });
    }
    lossCheck("memory", got, sent);
  } finally {
    await sub.stop();
  }
  return { bench: "memory after N events through one typed core subscription (growth over a warmed-up baseline, after GC)", unit: "MB", points, target: "growth < 50 MB" };
}

/** Consume + ack of `n` stored typed events by a fresh group, with the NATS KV inbox against without. */
export async function benchInbox(rig: LatencyRig, n: number, rounds: number): Promise<BenchLine> {
  await freshTypedStream(rig);
  for (let i = 0; i < n; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, n - i) }, (_, k) => rig.wf.executionStarted.publish({ workflowId: `wf${(i + k) % 101}`, executeId: BigInt(i + k) })));
  }
  const store = new NatsKvInboxStore(rig.bus);
  const groups: string[] = [];
  const run = async (kind: "plain" | "kv", round: number): Promise<number> => {
    const group = `inbox_${kind}_${round}`;
    if (kind === "kv") {
      await store.provision(group, { retentionMs: 3_600_000 });
      groups.push(group);
    }
    let handled = 0;
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    let stop: (() => Promise<void>) | undefined;
    const r = await rate(n, async () => {
      const sub = await rig.wf.executionStarted.subscribe(
        () => {
          if (++handled === n) done();
        },
        { group, concurrency: 16, ...(kind === "kv" ? { idempotency: { store, retentionMs: 3_600_000 } } : {}) },
      );
      stop = () => sub.stop();
      await all;
    });
    await stop?.();
    return r;
  };
  try {
    const line = await compare(
      "jetstream consume + ack, idempotency (NATS KV inbox) vs none",
      rounds,
      (round) => run("plain", round),
      (round) => run("kv", round),
    );
    return { ...line, baseline: "no idempotency", oursLabel: "NATS KV inbox" };
  } finally {
    // The inbox buckets are KV streams of their own: removed with the run.
    for (const g of groups) await rig.jsm.streams.delete(`KV_${store.bucketOf(g)}`).catch(() => undefined);
  }
}
