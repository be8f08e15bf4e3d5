/**
 * The Go side of the tests: builds test/go (cozego: Coze Studio's event bus
 * behaviour on nats.go, and on apache/pulsar-client-go with COZE_MQ_TYPE=pulsar) once per source version into a cache outside the
 * repository, and runs it as a child process speaking JSON lines.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("./go/", import.meta.url));

function goBinary(): string {
  const candidates = [process.env["GO"], "go", "/usr/local/go/bin/go", "/usr/lib/go/bin/go"].filter((c): c is string => !!c);
  for (const c of candidates) {
    try {
      execFileSync(c, ["version"], { stdio: "ignore" });
      return c;
    } catch {
      // next
    }
  }
  throw new Error("the Go toolchain is needed to build test/go (Coze's side of these tests): install Go 1.24+ or set GO to its path");
}

let built: string | undefined;

/** Path of the built cozego binary; builds it when its sources changed. */
export function cozego(): string {
  if (built !== undefined) return built;
  const hash = createHash("sha256");
  for (const f of readdirSync(SRC).sort()) hash.update(f).update(readFileSync(join(SRC, f)));
  const dir = join(process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache"), "cozebus", "cozego", hash.digest("hex").slice(0, 16));
  const bin = join(dir, "cozego");
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    // Build beside the target and rename: test files run in parallel processes and may build at once.
    const tmp = `${bin}.${process.pid}.tmp`;
    execFileSync(goBinary(), ["build", "-o", tmp, "."], { cwd: SRC, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, CGO_ENABLED: "0" } });
    renameSync(tmp, bin);
  }
  built = bin;
  return bin;
}

export type GoLine = Record<string, unknown> & {
  readonly body?: string;
  readonly echo?: string;
  readonly error?: string;
  readonly headers?: Record<string, string>;
  /** Pulsar: the message key (Go's `msg.Key()`). */
  readonly key?: string;
  readonly attempt?: number;
  readonly fannedOut?: number;
};

/** Environment for the Go side, as a Coze deployment sets it. */
export function cozeEnv(url: string, jetstream: boolean): Record<string, string> {
  return { MQ_NAME_SERVER: url, NATS_USE_JETSTREAM: jetstream ? "true" : "false", COZE_MQ_TYPE: "nats" };
}

/** Environment for the Go side of a Coze deployment on Pulsar: Go's client connects to MQ_NAME_SERVER (`pulsar://host:6650`). */
export function cozePulsarEnv(serviceUrl: string): Record<string, string> {
  return { COZE_MQ_TYPE: "pulsar", MQ_NAME_SERVER: serviceUrl };
}

/** Runs cozego to completion with `stdin` lines; resolves with its output lines, rejects on a non-zero exit. */
export function runGo(args: readonly string[], env: Record<string, string>, stdin: readonly string[] = []): Promise<GoLine[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(cozego(), args, { env: { PATH: process.env["PATH"] ?? "", ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const lines = out.split("\n").filter(Boolean).map((l) => JSON.parse(l) as GoLine);
      if (code === 0) resolve(lines);
      else reject(new Error(`cozego ${args.join(" ")} exited ${code}: ${out}${err}`));
    });
    child.stdin.end(stdin.map((l) => `${l}\n`).join(""));
  });
}

/** A long-running cozego consumer: collects its lines; `stop()` closes its stdin and waits for it to exit. */
export class GoConsumer {
  readonly lines: GoLine[] = [];
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #stderr = "";

  private constructor(child: ChildProcess) {
    this.#child = child;
    let buf = "";
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line) this.lines.push(JSON.parse(line) as GoLine);
      }
    });
    child.stderr!.on("data", (d: Buffer) => (this.#stderr += d.toString()));
    this.#exited = new Promise((resolve) => child.on("close", () => resolve()));
  }

  /** Starts `cozego consume` and resolves once its subscription is live. */
  static async start(args: readonly string[], env: Record<string, string>): Promise<GoConsumer> {
    const child = spawn(cozego(), ["consume", ...args], { env: { PATH: process.env["PATH"] ?? "", ...env }, stdio: ["pipe", "pipe", "pipe"] });
    const c = new GoConsumer(child);
    await c.waitFor("the Go consumer to be ready", () => c.lines.some((l) => l["ready"] === true));
    return c;
  }

  /** Received messages (not the ready line). */
  get received(): GoLine[] {
    return this.lines.filter((l) => typeof l.body === "string");
  }

  async waitFor(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      const fatal = this.lines.find((l) => typeof l["fatal"] === "string");
      if (fatal !== undefined || this.#child.exitCode !== null) throw new Error(`cozego stopped while waiting for ${what}: ${JSON.stringify(fatal ?? this.lines)} ${this.#stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; cozego said ${JSON.stringify(this.lines)} ${this.#stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Closes its stdin (it stops within a second: its fetch waits at most that long), killing it if it does not exit in 10 s. */
  async stop(): Promise<void> {
    if (this.#child.exitCode === null) this.#child.stdin!.end();
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 10_000);
    await this.#exited;
    clearTimeout(timer);
  }
}
