import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { freePort } from "./ports.js";
import { trackForExitCleanup, untrack } from "./reaper.js";

export interface PrometheusOptions {
  /** What to scrape: `host:port` (or `http://host:port`, the path defaulting to /metrics). */
  readonly targets: readonly string[];
  /** Scrape (and rule evaluation) interval (default 1000 ms; whole seconds or milliseconds, at least 100). */
  readonly scrapeIntervalMs?: number;
  /** The metrics path on every target (default `/metrics`). */
  readonly metricsPath?: string;
  /** The binary; default COZEBUS_PROMETHEUS_BIN, then /usr/bin/prometheus (Debian's package), then PATH. */
  readonly binary?: string;
  /** How long to wait for /-/ready (default 30 s). */
  readonly startTimeoutMs?: number;
}

/** One sample of an instant-vector query. */
export interface PromSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PrometheusTarget {
  readonly scrapeUrl: string;
  readonly health: "up" | "down" | "unknown";
  readonly lastScrape: Date;
  readonly lastError: string;
}

export interface PrometheusServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`: the HTTP API and UI. */
  readonly url: string;
  readonly port: number;
  /** This server's own temp folder (config, TSDB, log). */
  readonly dir: string;
  /** An instant PromQL query over the HTTP API; the samples of its vector (a scalar is one sample without labels). */
  query(promql: string): Promise<PromSample[]>;
  /** The sum of a query's samples (0 when it has none): `await prom.value('sum(x_total)')`. */
  value(promql: string): Promise<number>;
  /** The active targets and their last scrape. */
  targets(): Promise<PrometheusTarget[]>;
  /** Waits until every target was scraped successfully after `after` (default: now), so a query sees what was recorded before. */
  scrapedAfter(after?: Date, timeoutMs?: number): Promise<void>;
  /** The server's log so far. */
  logs(): string;
  /** Stops it and deletes its folder; safe to call twice. */
  stop(): Promise<void>;
}

export class PrometheusNotFoundError extends Error {
  constructor(looked: readonly string[]) {
    super(`prometheus not found (looked at ${looked.join(", ")}); install Debian's package (apt-get install prometheus) or set COZEBUS_PROMETHEUS_BIN`);
    this.name = "PrometheusNotFoundError";
  }
}

/** The Prometheus binary: COZEBUS_PROMETHEUS_BIN, Debian's /usr/bin/prometheus, then PATH. */
export function findPrometheusBinary(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const looked: string[] = [];
  const candidates = [env["COZEBUS_PROMETHEUS_BIN"], "/usr/bin/prometheus", ...(env["PATH"] ?? "").split(delimiter).filter(Boolean).map((d) => join(d, "prometheus"))];
  for (const c of candidates) {
    if (c === undefined || c === "") continue;
    looked.push(c);
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new PrometheusNotFoundError(looked);
}

const LOG_LIMIT = 256 * 1024;

function duration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function target(t: string): { scheme: string; address: string } {
  const m = /^(https?):\/\/([^/]+)\/?$/.exec(t);
  return m ? { scheme: m[1]!, address: m[2]! } : { scheme: "http", address: t };
}

class ManagedPrometheus implements PrometheusServer {
  readonly url: string;
  #proc: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #log = "";
  #stopped: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  start(binary: string, config: string, timeoutMs: number): Promise<void> {
    const proc = spawn(
      binary,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(this.dir, "data")}`,
        `--web.listen-address=127.0.0.1:${this.port}`,
        "--storage.tsdb.retention.time=1h",
        "--log.level=info",
      ],
      { cwd: this.dir, stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", LANG: "C" } },
    );
    this.#proc = proc;
    const onData = (c: Buffer): void => {
      if (this.#log.length < LOG_LIMIT) this.#log += c.toString();
    };
    proc.stdout?.on("data", onData);
    proc.stderr?.on("data", onData);
    this.#exited = new Promise((resolve) => proc.once("exit", () => resolve()));
    trackForExitCleanup(this, () => proc.kill("SIGKILL"));
    return this.#waitReady(timeoutMs);
  }

  async #waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.#exited.then(() => (exited = true));
    while (Date.now() < deadline) {
      if (exited) throw new Error(`prometheus exited before it was ready:\n${this.#tail()}`);
      try {
        const res = await fetch(`${this.url}/-/ready`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`prometheus was not ready after ${timeoutMs} ms:\n${this.#tail()}`);
  }

  #tail(): string {
    return this.#log.trimEnd().split("\n").slice(-30).join("\n");
  }

  logs(): string {
    return this.#log;
  }

  async #api<T>(path: string): Promise<T> {
    const res = await fetch(`${this.url}${path}`);
    const body = (await res.json()) as { status: string; data?: T; error?: string; errorType?: string };
    if (!res.ok || body.status !== "success") throw new Error(`prometheus ${path}: ${body.errorType ?? res.status} ${body.error ?? ""}`.trim());
    return body.data as T;
  }

  async query(promql: string): Promise<PromSample[]> {
    type Data =
      | { resultType: "vector"; result: Array<{ metric: Record<string, string>; value: [number, string] }> }
      | { resultType: "scalar"; result: [number, string] };
    const data = await this.#api<Data>(`/api/v1/query?query=${encodeURIComponent(promql)}`);
    if (data.resultType === "scalar") return [{ metric: {}, value: Number(data.result[1]) }];
    if (data.resultType !== "vector") throw new Error(`prometheus query ${promql}: a ${String((data as { resultType: string }).resultType)}, not an instant vector`);
    return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  async value(promql: string): Promise<number> {
    return (await this.query(promql)).reduce((a, s) => a + s.value, 0);
  }

  async targets(): Promise<PrometheusTarget[]> {
    const data = await this.#api<{ activeTargets: Array<{ scrapeUrl: string; health: PrometheusTarget["health"]; lastScrape: string; lastError: string }> }>("/api/v1/targets?state=active");
    return data.activeTargets.map((t) => ({ scrapeUrl: t.scrapeUrl, health: t.health, lastScrape: new Date(t.lastScrape), lastError: t.lastError }));
  }

  async scrapedAfter(after: Date = new Date(), timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: PrometheusTarget[] = [];
    while (Date.now() < deadline) {
      last = await this.targets();
      if (last.length > 0 && last.every((t) => t.health === "up" && t.lastScrape.getTime() > after.getTime())) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`prometheus: no successful scrape of every target after ${after.toISOString()} within ${timeoutMs} ms: ${JSON.stringify(last)}`);
  }

  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      const proc = this.#proc;
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
        await this.#exited;
        clearTimeout(timer);
      }
      untrack(this);
      rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.#stopped;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/**
 * Starts a throwaway Prometheus (Debian's `prometheus` package) on a free
 * loopback port, with its own temp folder and a generated scrape config for
 * `targets` (job `cozebus`, every `scrapeIntervalMs`). Always `stop()` it;
 * the process is killed when the test process exits in any case.
 */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  if (options.targets.length === 0) throw new Error("startPrometheus: give at least one target");
  const interval = options.scrapeIntervalMs ?? 1000;
  if (!Number.isInteger(interval) || interval < 100) throw new Error(`startPrometheus: scrapeIntervalMs must be an integer >= 100, got ${interval}`);
  const binary = options.binary ?? findPrometheusBinary();
  const groups = new Map<string, string[]>();
  for (const t of options.targets) {
    const { scheme, address } = target(t);
    groups.set(scheme, [...(groups.get(scheme) ?? []), address]);
  }
  // JSON is YAML: no YAML library needed for the config.
  const config = {
    global: { scrape_interval: duration(interval), scrape_timeout: duration(interval), evaluation_interval: duration(interval) },
    scrape_configs: [...groups].map(([scheme, targets], i) => ({
      job_name: i === 0 ? "cozebus" : `cozebus-${scheme}`,
      scheme,
      metrics_path: options.metricsPath ?? "/metrics",
      static_configs: [{ targets }],
    })),
  };
  let lastError: unknown;
  for (let tries = 0; tries < 3; tries++) {
    const dir = mkdtempSync(join(tmpdir(), "cozebus-prometheus-"));
    const file = join(dir, "prometheus.yml");
    writeFileSync(file, JSON.stringify(config, null, 2));
    const server = new ManagedPrometheus(dir, await freePort());
    try {
      await server.start(binary, file, options.startTimeoutMs ?? 30_000);
      return server;
    } catch (err) {
      lastError = err;
      await server.stop();
      // Another process took the port between freePort() and the bind: try a fresh one.
      if (!/address already in use/i.test(String(err))) break;
    }
  }
  throw lastError;
}
