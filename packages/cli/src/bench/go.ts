/**
 * The Go client as the ceiling: builds bench-go (ours, on nats.go from the Go
 * module proxy) once per source version into ~/.cache/cozebus/bench-go/<hash>,
 * and runs one mode per child process on the same server, reading its JSON line.
 */
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Percentiles } from "./percentiles.js";

const SRC = fileURLToPath(new URL("../../bench-go/", import.meta.url));

function goToolchain(): string | undefined {
  for (const c of [process.env["GO"], "go", "/usr/local/go/bin/go", "/usr/lib/go/bin/go"].filter((c): c is string => !!c)) {
    try {
      execFileSync(c, ["version"], { stdio: "ignore" });
      return c;
    } catch {
      // next candidate
    }
  }
  return undefined;
}

/** The built binary, or why there is none (no Go, or the build failed): the bench says so and carries on. */
export function goBench(): { readonly bin: string } | { readonly missing: string } {
  const go = goToolchain();
  if (go === undefined) return { missing: "no Go toolchain found (set GO to its path, or install Go 1.26+, which nats.go 1.55 needs): the Go column is left out" };
  if (!existsSync(SRC)) return { missing: `the Go bench's sources are not at ${SRC}` };
  const hash = createHash("sha256");
  for (const f of readdirSync(SRC).sort()) if (/\.(go|mod|sum)$/.test(f)) hash.update(f).update(readFileSync(join(SRC, f)));
  const dir = join(process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache"), "cozebus", "bench-go", hash.digest("hex").slice(0, 16));
  const bin = join(dir, "cozebus-bench-go");
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    // Built beside the target and renamed: two benches may build at once.
    const tmp = `${bin}.${process.pid}.tmp`;
    try {
      execFileSync(go, ["build", "-o", tmp, "."], { cwd: SRC, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, CGO_ENABLED: "0", GOTOOLCHAIN: "local" }, timeout: 300_000 });
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
      return { missing: `building ${SRC} with ${go} failed: ${stderr || String(err)}` };
    }
    renameSync(tmp, bin);
  }
  return { bin };
}

type GoLine = Record<string, unknown>;

function run(bin: string, args: readonly string[]): Promise<GoLine> {
  return new Promise((resolve, reject) => {
    execFile(bin, [...args], { timeout: 180_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const last = stdout.trim().split("\n").filter(Boolean).at(-1);
      const line = last !== undefined ? (JSON.parse(last) as GoLine) : undefined;
      if (err !== null || line === undefined || typeof line["error"] === "string") {
        const why = typeof line?.["error"] === "string" ? line["error"] : (err?.message ?? "no output");
        reject(new Error(`cozebus-bench-go ${args.join(" ")}: ${why} ${stderr}`));
      } else resolve(line);
    });
  });
}

/** A nats:// URL the Go client can dial: the first configured server. */
export interface GoTarget {
  readonly bin: string;
  readonly url: string;
}

/** JetStream publish with 256 in flight (PublishAsync window 256), stored count checked. */
export async function goPublish(t: GoTarget, n: number): Promise<number> {
  const l = await run(t.bin, ["-url", t.url, "-mode", "publish", "-n", String(n), "-stream", "COZEBUS_BENCH_GO_PUB"]);
  if (l["stored"] !== n) throw new Error(`cozebus-bench-go publish: ${String(l["stored"])} stored, ${n} sent`);
  return Number(l["rate"]);
}

/** Consume + ack of n stored messages by a fresh durable. */
export async function goConsume(t: GoTarget, n: number): Promise<number> {
  const l = await run(t.bin, ["-url", t.url, "-mode", "consume", "-n", String(n), "-stream", "COZEBUS_BENCH_GO_CONSUME"]);
  if (l["received"] !== n) throw new Error(`cozebus-bench-go consume: ${String(l["received"])} received, ${n} sent`);
  return Number(l["rate"]);
}

/** The fixed-rate JetStream latency run, as the JS sides do it. */
export async function goLatency(t: GoTarget, rate: number, seconds: number, size: number): Promise<Percentiles> {
  const l = await run(t.bin, ["-url", t.url, "-mode", "latency", "-rate", String(rate), "-seconds", String(seconds), "-size", String(size), "-stream", "COZEBUS_BENCH_GO_LATENCY"]);
  const num = (k: string): number => Math.round(Number(l[k]) * 1000) / 1000;
  return { sent: num("sent"), received: num("received"), p50: num("p50"), p99: num("p99"), p999: num("p999"), max: num("max") };
}
