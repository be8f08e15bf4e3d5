/**
 * Builds a nats-server release with `go install` into a cache outside the
 * repository, once per machine. Test runners start many processes at once
 * (vitest runs files in parallel workers, turbo runs packages in parallel),
 * so a build is guarded twice:
 *  - a lock directory (mkdir is atomic) makes the others wait instead of
 *    compiling the same thing on the same cores;
 *  - the binary is built in a private temp folder and renamed into place,
 *    so nobody ever sees half a file, even if a lock is broken or stolen.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { homedir, hostname } from "node:os";
import { delimiter, dirname, isAbsolute, join } from "node:path";
import { readNatsServerVersion } from "./version-probe.js";

const MODULE = "github.com/nats-io/nats-server/v2";
/** A lock not touched for this long belongs to a process that died mid-build. */
const STALE_LOCK_MS = 30_000;
const HEARTBEAT_MS = 5_000;
const PROGRESS_MS = 15_000;
/** A build that has not finished by then is hung (a proxy that never answers): give up with an error. */
const BUILD_TIMEOUT_MS = 15 * 60_000;

/** Thrown when a nats-server release cannot be built: no Go toolchain, or `go install` failed. */
export class NatsServerBuildError extends Error {
  override readonly name = "NatsServerBuildError";
  constructor(
    readonly version: string,
    message: string,
  ) {
    super(message);
  }
}

export interface BuildOptions {
  /** Environment for the cache location and for `go` (default: process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Where progress goes (default: stderr, so it never mixes with a command's output). */
  readonly log?: (line: string) => void;
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === "" ? undefined : v);

/**
 * The folder holding one subfolder per built release (`v2.12.15/nats-server`):
 * `$COZEBUS_CACHE_DIR/nats-server`, else `$XDG_CACHE_HOME/cozebus/nats-server`,
 * else `~/.cache/cozebus/nats-server`.
 */
export function natsServerCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const own = nonEmpty(env["COZEBUS_CACHE_DIR"]);
  if (own !== undefined) {
    // Each package's tests run in their own folder: a relative path would give each its own cache.
    if (!isAbsolute(own)) throw new Error(`COZEBUS_CACHE_DIR must be an absolute path (got ${JSON.stringify(own)})`);
    return join(own, "nats-server");
  }
  const xdg = nonEmpty(env["XDG_CACHE_HOME"]);
  // The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
  const base = xdg !== undefined && isAbsolute(xdg) ? xdg : join(nonEmpty(env["HOME"]) ?? homedir(), ".cache");
  return join(base, "cozebus", "nats-server");
}

/** Where `version` lives in the cache (whether or not it was built yet). */
export function cachedNatsServerPath(version: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(natsServerCacheDir(env), `v${version}`, "nats-server");
}

/** The command that builds `version` into the cache, as a user would type it. */
export function buildCommand(version: string, env: NodeJS.ProcessEnv = process.env): string {
  return `GOBIN=${dirname(cachedNatsServerPath(version, env))} go install ${MODULE}@v${version}`;
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function findGo(env: NodeJS.ProcessEnv): string | undefined {
  return (env["PATH"] ?? "").split(delimiter).filter(Boolean).map((d) => join(d, "go")).find(isExecutable);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const seconds = (since: number): string => `${Math.round((Date.now() - since) / 1000)} s`;

/**
 * The cached binary of `version`, built first when it is missing. Safe to call
 * from many processes at once: one builds, the others wait for it.
 */
export async function buildNatsServer(version: string, opts: BuildOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((line: string): void => void process.stderr.write(`${line}\n`));
  const target = cachedNatsServerPath(version, env);
  if (isExecutable(target)) return target;
  // Before anything is created: without Go, nothing can be built, and nothing is left behind.
  const go = findGo(env);
  if (go === undefined) {
    throw new NatsServerBuildError(
      version,
      `nats-server v${version} is not built yet (${target} is missing) and no Go toolchain was found on PATH. ` +
        `Install Go 1.25 or newer (https://go.dev/doc/install; put its bin folder on PATH), then run again or build it yourself: ${buildCommand(version, env)}. ` +
        `Or use a server you have: NATS_SERVER_BIN=/path/to/nats-server, or COZEBUS_NATS_VERSION=2.9 with Debian's (apt-get install nats-server).`,
    );
  }
  const cache = natsServerCacheDir(env);
  mkdirSync(cache, { recursive: true });
  const lock = join(cache, `v${version}.lock`);
  let announced = false;
  const deadline = Date.now() + BUILD_TIMEOUT_MS + STALE_LOCK_MS;
  for (;;) {
    if (isExecutable(target)) return target;
    if (tryLock(lock)) break;
    const age = lockAge(lock);
    if (age !== undefined && age > STALE_LOCK_MS) {
      log(`@cozebus/testing: removing the stale build lock ${lock} (untouched for ${Math.round(age / 1000)} s; its builder died)`);
      breakLock(lock);
      continue;
    }
    if (Date.now() > deadline) throw new NatsServerBuildError(version, `gave up waiting for another process to build nats-server v${version} (lock ${lock}); delete the lock and run again`);
    if (!announced) {
      announced = true;
      log(`@cozebus/testing: waiting for nats-server v${version}, which ${lockOwner(lock)} is building (lock ${lock})`);
    }
    await sleep(250);
  }
  const heartbeat = setInterval(() => touch(lock), HEARTBEAT_MS);
  heartbeat.unref();
  try {
    // Someone may have finished between our last look and taking the lock.
    if (isExecutable(target)) return target;
    await goInstall(go, version, target, cache, env, log);
    return target;
  } finally {
    clearInterval(heartbeat);
    rmSync(lock, { recursive: true, force: true });
  }
}

function tryLock(lock: string): boolean {
  try {
    mkdirSync(lock);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
  writeFileSync(join(lock, "owner"), `pid ${process.pid} on ${hostname()}, since ${new Date().toISOString()}\n`);
  return true;
}

function lockAge(lock: string): number | undefined {
  try {
    return Date.now() - statSync(lock).mtimeMs;
  } catch {
    return undefined; // released meanwhile
  }
}

function lockOwner(lock: string): string {
  try {
    return readFileSync(join(lock, "owner"), "utf8").trim();
  } catch {
    return "another process";
  }
}

/** Renamed away first, so two waiters that both judged it stale cannot both delete (one would delete a fresh lock). */
function breakLock(lock: string): void {
  const doomed = `${lock}.stale-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    renameSync(lock, doomed);
  } catch {
    return; // someone else broke or released it
  }
  rmSync(doomed, { recursive: true, force: true });
}

function touch(lock: string): void {
  const now = new Date();
  try {
    utimesSync(lock, now, now);
  } catch {
    // The lock was broken by a waiter who thought we died; the atomic rename still keeps the result whole.
  }
}

async function goInstall(go: string, version: string, target: string, cache: string, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<void> {
  const command = buildCommand(version, env);
  const tmp = mkdtempSync(join(cache, `.build-v${version}-`));
  const started = Date.now();
  log(`@cozebus/testing: building nats-server v${version} (once per machine; tens of seconds): ${command}`);
  const progress = setInterval(() => log(`@cozebus/testing: still building nats-server v${version} (${seconds(started)})`), PROGRESS_MS);
  progress.unref();
  try {
    // The user's Go settings (GOPROXY, GOFLAGS, CGO_ENABLED...) apply; Go itself turns cgo off where there is no C compiler.
    const result = await run(go, ["install", `${MODULE}@v${version}`], { ...env, GOBIN: tmp });
    if (result.code !== 0) {
      throw new NatsServerBuildError(
        version,
        `building nats-server v${version} failed (go install ${result.code === null ? "was killed: timed out or signalled" : `exited with ${result.code}`}):\n${tail(result.stderr)}\n` +
          `Fix the cause above (check "go version": 2.11 and 2.12 need Go 1.25 or newer; check "go env GOPROXY" and the network) ` +
          `and run again, or build it yourself: ${command}`,
      );
    }
    const built = join(tmp, "nats-server");
    const reported = readNatsServerVersion(built);
    if (reported !== version) throw new NatsServerBuildError(version, `go install built ${built}, but it reports version ${reported}, not ${version}`);
    mkdirSync(dirname(target), { recursive: true });
    renameSync(built, target);
    log(`@cozebus/testing: built nats-server v${version} in ${seconds(started)}: ${target}`);
  } finally {
    clearInterval(progress);
    rmSync(tmp, { recursive: true, force: true });
  }
}

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-64 * 1024);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), BUILD_TIMEOUT_MS);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

function tail(text: string, lines = 20): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}
