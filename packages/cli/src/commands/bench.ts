import { natsConnectionOptions, resolveConfig } from "@cozebus/nats";
import { resolveConfig as resolvePulsarConfig } from "@cozebus/pulsar";
import { benchCore } from "../bench/core.js";
import { benchConsume, benchPublish, benchPublishBurst } from "../bench/jetstream.js";
import { benchPulsarConsume, benchPulsarPublish, type PulsarBenchTarget } from "../bench/pulsar.js";
import type { BenchLine, BenchTarget } from "../bench/measure.js";
import { busOptions, configuredOrLocalPulsar, configuredOrLocalServer, mqTypeOf, pulsarOptions, type GlobalFlags } from "../connect.js";

export interface BenchFlags extends GlobalFlags {
  /** Messages per round (default 20,000 on NATS, 5,000 on Pulsar). */
  readonly messages?: number;
  /** Rounds per benchmark; raw and cozebus alternate and the medians are compared (default 5). */
  readonly rounds?: number;
}

const SUITE: ReadonlyArray<(t: BenchTarget, n: number, rounds: number) => Promise<BenchLine>> = [benchCore, benchPublish, benchPublishBurst, benchConsume];

function table(lines: readonly BenchLine[], raw = "raw nats.js"): string {
  const rows = [["benchmark", "cozebus", raw, "ratio", "target"], ...lines.map((l) => [l.bench, `${l.ours} ${l.unit}`, `${l.raw} ${l.unit}`, `${l.ratio.toFixed(2)}x`, l.target ?? "(info)"])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")).join("\n");
}

/**
 * `cozebus bench`: cozebus against raw nats.js in this process, on the same
 * server with the same auth and TLS, rounds alternating so a noisy machine
 * hits both sides alike. Uses the configured server, or a throwaway local one
 * when none is configured. Creates COZEBUS_BENCH_* streams and deletes them.
 * Ratios are printed, never asserted: machines are shared and noisy.
 */
export async function benchCommand(flags: BenchFlags): Promise<number> {
  if (mqTypeOf(flags) === "pulsar") return benchPulsarCommand(flags);
  const n = flags.messages ?? 20_000;
  const rounds = flags.rounds ?? 5;
  const say = (m: string): void => void (flags.json ? process.stderr : process.stdout).write(`${m}\n`);
  const { flags: serverFlags, local: server } = await configuredOrLocalServer(flags, say, "benchmarking");
  try {
    const ours = { ...busOptions(serverFlags), reconnect: { maxAttempts: 10 } };
    const target: BenchTarget = { ours, raw: natsConnectionOptions(resolveConfig(ours)) };
    say(`${n} messages x ${rounds} rounds per benchmark, medians; ratio = cozebus / raw (higher is better for cozebus)`);
    const lines: BenchLine[] = [];
    for (const bench of SUITE) {
      const line = await bench(target, n, rounds);
      lines.push(line);
      if (flags.json) process.stdout.write(`${JSON.stringify(line)}\n`);
    }
    if (!flags.json) say(`\n${table(lines)}`);
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
    if (!flags.json) say(`\n${table(lines, "raw ws API")}`);
    return 0;
  } finally {
    await broker?.stop();
  }
}
