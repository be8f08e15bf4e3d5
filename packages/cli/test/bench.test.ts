import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger, startNatsServer, type NatsServer } from "@cozebus/testing";
import { openBus, type Bus } from "@cozebus/nats";
import { percentiles } from "../src/bench/percentiles.js";
import { runCli } from "./run-cli.js";

// Only shapes and counts are checked here: timings are printed for people, never asserted (shared, noisy machines).

let server: NatsServer;
let bus: Bus;
let dir: string;
const cozebus = (args: string[]): ReturnType<typeof runCli> => runCli(args, { NATS_SERVER_URL: server.url });

beforeAll(async () => {
  server = await startNatsServer();
  bus = await openBus({ servers: server.url, env: {}, logger: silentLogger, onError: () => undefined });
  dir = mkdtempSync(join(tmpdir(), "cozebus-bench-"));
});
afterAll(async () => {
  await bus?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface P {
  sent: number;
  received: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

function expectPercentiles(p: P | undefined, sent: number): void {
  expect(p).toBeDefined();
  expect(p!.sent).toBe(sent);
  expect(p!.received).toBe(sent);
  for (const k of ["p50", "p99", "p999", "max"] as const) expect(Number.isFinite(p![k]), k).toBe(true);
  expect(p!.p50).toBeGreaterThan(0);
  expect(p!.p50).toBeLessThanOrEqual(p!.p99);
  expect(p!.p99).toBeLessThanOrEqual(p!.p999);
  expect(p!.p999).toBeLessThanOrEqual(p!.max);
}

async function leftStreams(): Promise<string[]> {
  const js = await bus.jetstream();
  const left: string[] = [];
  for await (const s of js.jsm.streams.list()) if (s.config.name.startsWith("COZEBUS_BENCH") || s.config.name.startsWith("KV_cozebus_inbox_inbox")) left.push(s.config.name);
  return left;
}

describe("percentiles", () => {
  it("nearest rank over the samples given, sorted", () => {
    const xs = Float64Array.from({ length: 1000 }, (_, i) => 1000 - i);
    expect(percentiles(xs, 1000, 1000)).toEqual({ sent: 1000, received: 1000, p50: 500, p99: 990, p999: 999, max: 1000 });
    expect(percentiles(Float64Array.from([3, 1, 2, 9]), 3, 5)).toMatchObject({ sent: 5, received: 3, p50: 2, max: 3 });
  });
});

describe("cozebus bench", () => {
  it("--only latency: every offered rate on both paths, both sides, every event counted once, percentiles in order", async () => {
    const r = await cozebus(["bench", "--json", "--only", "latency,go", "--rates", "200,400", "--seconds", "0.5", "--rounds", "1", "--messages", "300"]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const latency = lines.filter((l) => l["kind"] === "latency") as Array<{ path: string; rate: number; seconds: number; unit: string; ours: P; raw: P; go?: P; p99Ratio: number }>;
    expect(latency.map((l) => `${l.path}@${l.rate}`)).toEqual(["jetstream@200", "jetstream@400", "core@200", "core@400"]);
    const withGo = !/go: no Go toolchain/.test(r.stderr);
    for (const l of latency) {
      expect(l.unit).toBe("ms");
      const sent = Math.round(l.rate * l.seconds);
      expect(l.seconds).toBe(l.path === "jetstream" ? 0.5 : 0.25);
      expectPercentiles(l.ours, sent);
      expectPercentiles(l.raw, sent);
      expect(l.p99Ratio).toBeCloseTo(l.ours.p99 / l.raw.p99, 1);
      if (l.path === "jetstream" && withGo) expectPercentiles(l.go, sent);
    }
    if (withGo) {
      const go = lines.filter((l) => l["kind"] === "go") as Array<{ bench: string; rate: number }>;
      expect(go.map((g) => g.bench)).toEqual(["jetstream publish 128B, acks awaited, 256 in flight", "jetstream consume + ack, no-op handler"]);
      for (const g of go) expect(g.rate).toBeGreaterThan(0);
    }
    expect(await leftStreams()).toEqual([]);
  }, 180_000);

  it("--report: request/reply, sizes, filters, memory and the inbox line, written as markdown with an SVG beside it", async () => {
    const report = join(dir, "performance.md");
    const r = await cozebus(["bench", "--quick", "--only", "request-reply,sizes,filters,memory,inbox", "--messages", "300", "--rounds", "1", "--report", report]);
    expect(r.code, r.stderr).toBe(0);
    const md = readFileSync(report, "utf8");
    expect(md).toMatch(/^# cozebus performance/);
    expect(md).toMatch(/nats-server 2\.\d+\.\d+/);
    for (const s of ["## Request/reply", "## Memory", "## Throughput", "128 B, typed vs raw", "64 KiB", "1000 filtered subscriptions", "idempotency (NATS KV inbox) vs none", "![latency and throughput](performance.svg)"]) expect(md).toContain(s);
    const svg = readFileSync(join(dir, "performance.svg"), "utf8");
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain("<rect x=");
    expect(r.stdout).toMatch(/memory after 10000 events: rss [\d.]+ MB/);
    expect(await leftStreams()).toEqual([]);
  }, 180_000);

  it("a bad --only or --seconds is exit 2 before anything runs", async () => {
    const bad = await cozebus(["bench", "--only", "latency,nope"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--only takes a comma-separated list of throughput, latency');
    const secs = await cozebus(["bench", "--seconds", "0"]);
    expect(secs.code).toBe(2);
  });
});
