import { writeFileSync } from "node:fs";
import { natsConnectionOptions, resolveConfig } from "@cozebus/nats";
import { resolveConfig as resolvePulsarConfig } from "@cozebus/pulsar";
import { benchCore } from "../bench/core.js";
import { goBench, goConsume, goLatency, goPublish, type GoTarget } from "../bench/go.js";
import { benchConsume, benchPublish, benchPublishBurst } from "../bench/jetstream.js";
import { benchLatency, openRig, type LatencyLine } from "../bench/latency.js";
import { benchPulsarConsume, benchPulsarPublish, type PulsarBenchTarget } from "../bench/pulsar.js";
import { machine, reportMarkdown, reportSvg, throughputTable, latencyTable, type BenchReport, type GoLineOut } from "../bench/report.js";
import { benchFiltered, benchInbox, benchMemory, benchPayloadSize, benchRequestReply } from "../bench/typed.js";
import type { BenchLine, BenchTarget } from "../bench/measure.js";
import { usageError } from "../errors.js";
import { busOptions, configuredOrLocalPulsar, configuredOrLocalServer, mqTypeOf, pulsarOptions, type GlobalFlags } from "../connect.js";

/** The parts of the NATS suite, in the order they run; `--only` picks some. */
export const SECTIONS = ["throughput", "latency", "request-reply", "sizes", "filters", "memory", "inbox", "go"] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchFlags extends GlobalFlags {
  /** Messages per round (default 20,000 on NATS, 5,000 on Pulsar; --quick 5,000). */
  readonly messages?: number;
  /** Rounds per benchmark; raw and cozebus alternate and the medians are compared (default 5; --quick 3). */
  readonly rounds?: number;
  /** The short suite (under a minute): fewer rates, 2 s each, no 1M-event memory run. */
  readonly quick?: boolean;
  /** Offered rates of the latency runs, events/s (default 1000,2000,5000,10000; --quick 1000,5000). */
  readonly rates?: readonly number[];
  /** Seconds per latency run on JetStream (default 10; --quick 2); core runs half as long. */
  readonly seconds?: number;
  readonly only?: readonly Section[];
  /** Write a markdown report here, and its SVG chart beside it (same name, .svg). */
  readonly report?: string;
}

export function parseSections(v: string): Section[] {
  const out = v.split(",").map((s) => s.trim()).filter(Boolean);
  for (const s of out) if (!(SECTIONS as readonly string[]).includes(s)) throw usageError(`--only takes a comma-separated list of ${SECTIONS.join(", ")}; got ${JSON.stringify(s)}`);
  return out as Section[];
}

const SUITE: ReadonlyArray<(t: BenchTarget, n: number, rounds: number) => Promise<BenchLine>> = [benchCore, benchPublish, benchPublishBurst, benchConsume];

/** A nats:// URL for the Go client, or why it cannot connect the way cozebus does (it is given no credentials). */
function goUrl(t: BenchTarget): { url: string } | { missing: string } {
  const r = t.raw as Record<string, unknown>;
  if (r["authenticator"] !== undefined || r["token"] !== undefined || r["user"] !== undefined || (r["tls"] !== undefined && r["tls"] !== null)) {
    return { missing: "the configured server needs auth or TLS, which the Go bench is not given: the Go column is left out" };
  }
  const servers = r["servers"];
  const list: unknown[] = Array.isArray(servers) ? servers : [servers];
  const first = typeof list[0] === "string" ? list[0] : "127.0.0.1:4222";
  return { url: first.includes("://") ? first : `nats://${first}` };
}

/**
 * `cozebus bench`: cozebus against raw nats.js in this process, on the same
 * server with the same auth and TLS, rounds alternating so a noisy machine
 * hits both sides alike; the Go client (nats.go) on the same server when Go
 * is installed. Uses the configured server, or a throwaway local one when
 * none is configured. Creates COZEBUS_BENCH_* streams and deletes them.
 * Ratios are printed, never asserted: machines are shared and noisy.
 */
export async function benchCommand(flags: BenchFlags): Promise<number> {
  if (mqTypeOf(flags) === "pulsar") return benchPulsarCommand(flags);
  const quick = flags.quick === true;
  const n = flags.messages ?? (quick ? 5_000 : 20_000);
  const rounds = flags.rounds ?? (quick ? 3 : 5);
  const rates = flags.rates ?? (quick ? [1_000, 5_000] : [1_000, 2_000, 5_000, 10_000]);
  const seconds = flags.seconds ?? (quick ? 2 : 10);
  const only = new Set<Section>(flags.only ?? SECTIONS);
  const say = (m: string): void => void (flags.json ? process.stderr : process.stdout).write(`${m}\n`);
  const out = (o: object): void => {
    if (flags.json) process.stdout.write(`${JSON.stringify(o)}\n`);
  };
  const started = new Date();
  const { flags: serverFlags, local: server } = await configuredOrLocalServer(flags, say, "benchmarking");
  try {
    const ours = { ...busOptions(serverFlags), reconnect: { maxAttempts: 10 } };
    const target: BenchTarget = { ours, raw: natsConnectionOptions(resolveConfig(ours)) };
    const rig = await openRig(target);
    const host = machine(rig.bus.server.version, started, quick);
    const latency: LatencyLine[] = [];
    const notes: string[] = [];
    const report: BenchReport = { machine: host, throughput: [], latency, go: [], notes };
    try {
      say(`nats-server ${host.server} on ${host.cpus} x ${host.cpu}; ${n} messages x ${rounds} rounds per throughput benchmark, medians; ratio = cozebus / raw (higher is better for cozebus)`);
      let go: GoTarget | undefined;
      if (only.has("go")) {
        const url = goUrl(target);
        const built = "missing" in url ? url : goBench();
        if ("missing" in built) {
          notes.push(`Go: ${built.missing}`);
          say(`go: ${built.missing}`);
        } else go = { bin: built.bin, url: (url as { url: string }).url };
      }
      // A person watching a five-minute run sees each result as it lands; the tables follow at the end.
      const progress = (m: string): void => void (flags.json ? undefined : say(`  ${m}`));
      const throughput = (line: BenchLine): void => {
        report.throughput.push(line);
        out({ kind: "throughput", ...line });
        progress(`${line.bench}: ${line.ratio.toFixed(2)}x`);
      };
      if (only.has("throughput")) for (const bench of SUITE) throughput(await bench(target, n, rounds));
      if (go !== undefined) {
        // The Go client runs in its own process, after ours: each round alone on the machine, medians of the same rounds.
        const pub: number[] = [];
        const con: number[] = [];
        for (let r = 0; r < Math.min(rounds, 3); r++) {
          pub.push(await goPublish(go, n));
          con.push(await goConsume(go, n));
        }
        const med = (xs: number[]): number => Math.round([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!);
        for (const [bench, rate] of [
          ["jetstream publish 128B, acks awaited, 256 in flight", med(pub)],
          ["jetstream consume + ack, no-op handler", med(con)],
        ] as const) {
          const l: GoLineOut = { bench, rate, unit: "msg/s" };
          report.go.push(l);
          out({ kind: "go", ...l });
        }
      }
      if (only.has("latency")) {
        const js = await benchLatency(rig, "jetstream", rates, seconds, 128);
        if (go !== undefined) for (const l of js) l.go = await goLatency(go, l.rate, seconds, 128);
        const core = await benchLatency(rig, "core", rates, seconds / 2, 128, rates.length);
        for (const l of [...js, ...core]) {
          progress(`${l.path} latency at ${l.rate} ev/s: p99 cozebus ${l.ours.p99} ms, raw ${l.raw.p99} ms${l.go ? `, Go ${l.go.p99} ms` : ""}`);
          latency.push(l);
          out({ kind: "latency", ...l });
        }
      }
      if (only.has("request-reply")) {
        report.requestReply = await benchRequestReply(rig, quick ? 1_000 : 5_000, quick ? 2 : 4);
        out({ kind: "request-reply", ...report.requestReply });
      }
      // Six more comparisons: fewer messages each, to keep the default suite under five minutes on 2 cores.
      const small = Math.min(n, 10_000);
      if (only.has("sizes")) for (const size of [128, 1024, 65536]) throughput(await benchPayloadSize(rig, size, small, Math.min(rounds, 3)));
      if (only.has("filters")) for (const subs of [1, 100, 1000]) throughput(await benchFiltered(rig, subs, small, Math.min(rounds, 3)));
      if (only.has("memory")) {
        report.memory = await benchMemory(rig, quick ? [10_000] : [10_000, 1_000_000]);
        out({ kind: "memory", ...report.memory });
      }
      if (only.has("inbox")) throughput(await benchInbox(rig, quick ? 2_000 : 5_000, quick ? 1 : 3));
    } finally {
      await rig.close();
    }
    host.seconds = Math.round((Date.now() - started.getTime()) / 1000);
    if (!flags.json) {
      if (report.throughput.length > 0) say(`\n${throughputTable(report)}`);
      if (latency.length > 0) say(`\n${latencyTable(report)}`);
      if (report.requestReply) say(`\nrequest/reply p50 / p99: cozebus ${report.requestReply.ours.p50} / ${report.requestReply.ours.p99} ms, raw ${report.requestReply.raw.p50} / ${report.requestReply.raw.p99} ms (p99 ratio ${report.requestReply.p99Ratio}x)`);
      if (report.memory) for (const p of report.memory.points) say(`memory after ${p.events} events: rss ${p.rss} MB (+${p.rssGrowth}), heap ${p.heapUsed} MB (+${p.heapGrowth}); ${report.memory.target}`);
    }
    if (flags.report !== undefined) {
      const svgPath = flags.report.replace(/\.md$/, "") + ".svg";
      writeFileSync(svgPath, reportSvg(report));
      writeFileSync(flags.report, reportMarkdown(report, svgPath));
      say(`report: ${flags.report}, chart: ${svgPath}`);
    }
    return 0;
  } finally {
    await server?.stop();
  }
}

const PULSAR_SUITE: ReadonlyArray<(t: PulsarBenchTarget, n: number, rounds: number) => Promise<BenchLine>> = [benchPulsarPublish, benchPulsarConsume];

/**
 * `cozebus bench` on Pulsar (COZE_MQ_TYPE=pulsar): cozebus's Pulsar path
 * (typed EventClient on PulsarTransport) against raw WebSocket-API code with
 * `ws`, on the configured broker (same token, same namespace) or a
 * throwaway local standalone (run with the JVM's full JIT). Creates
 * `coze.cozebench.*` topics and deletes them.
 */
async function benchPulsarCommand(flags: BenchFlags): Promise<number> {
  const n = flags.messages ?? 5_000;
  const rounds = flags.rounds ?? 5;
  const say = (m: string): void => void (flags.json ? process.stderr : process.stdout).write(`${m}\n`);
  const { flags: brokerFlags, local: broker } = await configuredOrLocalPulsar(flags, "benchmarking on", { jvmArgs: ["-XX:TieredStopAtLevel=4"] });
  try {
    const ours = pulsarOptions(brokerFlags);
    const config = resolvePulsarConfig(ours);
    const target: PulsarBenchTarget = { ours, web: config.webServiceUrls[0]!, tenant: config.tenant, namespace: config.namespace, token: config.token, ca: config.tlsCa };
    say(`pulsar ${target.web} (${target.tenant}/${target.namespace}): ${n} messages x ${rounds} rounds per benchmark, medians; ratio = cozebus / raw WebSocket API (higher is better for cozebus)`);
    const lines: BenchLine[] = [];
    for (const bench of PULSAR_SUITE) {
      const line = await bench(target, n, rounds);
      lines.push(line);
      if (flags.json) process.stdout.write(`${JSON.stringify(line)}\n`);
    }
    if (!flags.json) say(`\n${throughputTable({ throughput: lines, go: [] }, "raw ws API")}`);
    return 0;
  } finally {
    await broker?.stop();
  }
}
