import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, constants, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PulsarPrerequisiteError, PulsarResolveError } from "./errors.js";

/** The newest 3.0.x (LTS) that Maven Central serves here; the one the pom's exclusions were checked against. */
export const DEFAULT_PULSAR_VERSION = "3.0.7";

/** Pinned so a cold run does not depend on which plugin version the local Maven defaults to. */
const DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1";

/** packages/testing/pulsar/pom.xml, from src/pulsar/ (tests) and from dist/pulsar/ (published) alike. */
export const POM_PATH = fileURLToPath(new URL("../../pulsar/pom.xml", import.meta.url));

const JAVA_FIX = `apt-get install openjdk-17-jre-headless (or set JAVA_HOME to a JDK 17 or newer)`;
const MAVEN_FIX = `apt-get install maven (or set MAVEN_HOME; only needed until the classpath is cached)`;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  return (env["PATH"] ?? "").split(delimiter).filter(Boolean).map((d) => join(d, name)).find(isExecutable);
}

/**
 * The `java` to run the broker with: the explicit path, else JAVA_HOME's
 * (and then only it, so a stale JAVA_HOME is reported rather than silently
 * replaced), else PATH. Pulsar 3.0's broker needs Java 17 or newer.
 */
export function findJava(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  let java: string;
  if (explicit !== undefined) {
    if (!isExecutable(explicit)) throw new PulsarPrerequisiteError("java", `java was not found at ${explicit} (the "java" option)`, JAVA_FIX);
    java = explicit;
  } else if (env["JAVA_HOME"]) {
    java = join(env["JAVA_HOME"], "bin", "java");
    if (!isExecutable(java)) throw new PulsarPrerequisiteError("java", `JAVA_HOME=${env["JAVA_HOME"]} has no bin/java`, JAVA_FIX);
  } else {
    const found = onPath("java", env);
    if (found === undefined) throw new PulsarPrerequisiteError("java", "java was not found (JAVA_HOME is unset and no java on PATH)", JAVA_FIX);
    java = found;
  }
  const major = javaMajorVersion(java);
  if (major < 17) throw new PulsarPrerequisiteError("java", `${java} is Java ${major}; Pulsar 3.0's broker needs 17 or newer`, JAVA_FIX);
  return java;
}

const javaVersions = new Map<string, number>();

function javaMajorVersion(java: string): number {
  const known = javaVersions.get(java);
  if (known !== undefined) return known;
  const run = spawnSync(java, ["-version"], { encoding: "utf8", timeout: 30_000 });
  // `java -version` prints to stderr: `openjdk version "17.0.15" 2025-04-15` (or "1.8.0_392" before Java 9).
  const m = /version "(\d+)(?:\.(\d+))?/.exec(`${run.stderr}${run.stdout}`);
  if (run.status !== 0 || m === null) {
    throw new PulsarPrerequisiteError("java", `${java} -version failed (${run.error?.message ?? `exit ${run.status}`})`, JAVA_FIX);
  }
  const major = m[1] === "1" ? Number(m[2]) : Number(m[1]);
  javaVersions.set(java, major);
  return major;
}

/** The `mvn` to resolve with: the explicit path, else MAVEN_HOME's, else PATH. */
export function findMaven(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit !== undefined) {
    if (isExecutable(explicit)) return explicit;
    throw new PulsarPrerequisiteError("mvn", `mvn was not found at ${explicit} (the "maven" option)`, MAVEN_FIX);
  }
  if (env["MAVEN_HOME"]) {
    const mvn = join(env["MAVEN_HOME"], "bin", "mvn");
    if (isExecutable(mvn)) return mvn;
    throw new PulsarPrerequisiteError("mvn", `MAVEN_HOME=${env["MAVEN_HOME"]} has no bin/mvn`, MAVEN_FIX);
  }
  const found = onPath("mvn", env);
  if (found === undefined) {
    throw new PulsarPrerequisiteError("mvn", "mvn was not found on PATH, and Pulsar's classpath is not cached yet", MAVEN_FIX);
  }
  return found;
}

/** Where resolved classpaths are kept: COZEBUS_PULSAR_CACHE, else $XDG_CACHE_HOME/cozebus/pulsar, else ~/.cache/cozebus/pulsar. */
export function defaultPulsarCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env["COZEBUS_PULSAR_CACHE"]) return env["COZEBUS_PULSAR_CACHE"];
  return join(env["XDG_CACHE_HOME"] || join(homedir(), ".cache"), "cozebus", "pulsar");
}

export interface ResolveOptions {
  readonly version: string;
  readonly cacheDir: string;
  readonly maven: string | undefined;
  readonly progress: (message: string) => void;
  readonly timeoutMs: number;
  readonly env: NodeJS.ProcessEnv;
}

/**
 * The broker's classpath (jar paths in the local Maven repository). Resolved
 * with Maven the first time for a given version and pom, then read from the
 * cache; a cached list whose jars have gone (a cleaned ~/.m2) is resolved
 * again. Concurrent callers (parallel test files, parallel packages under
 * turbo) share one Maven run through a lock folder.
 */
export async function resolvePulsarClasspath(opts: ResolveOptions): Promise<readonly string[]> {
  const pom = readFileSync(POM_PATH);
  const key = `${opts.version}-${createHash("sha256").update(pom).digest("hex").slice(0, 12)}`;
  const entry = join(opts.cacheDir, key);
  const listFile = join(entry, "classpath.txt");
  const cached = readClasspath(listFile);
  if (cached !== undefined) return cached;

  mkdirSync(entry, { recursive: true });
  const lock = join(entry, "resolve.lock");
  const deadline = Date.now() + opts.timeoutMs;
  let told = false;
  for (;;) {
    if (tryLock(lock)) break;
    if (!told) opts.progress(`waiting for another process (pid ${lockOwner(lock) ?? "?"}) that is resolving Apache Pulsar ${opts.version}`);
    told = true;
    if (Date.now() > deadline) throw new PulsarResolveError(`(lock ${lock})`, "timed out waiting for the other resolver");
    await sleep(500);
    const done = readClasspath(listFile);
    if (done !== undefined) return done;
  }
  try {
    const again = readClasspath(listFile); // another process may have finished just before we took the lock
    if (again !== undefined) return again;
    const classpath = await runMaven(opts, listFile);
    return classpath;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function readClasspath(listFile: string): readonly string[] | undefined {
  if (!existsSync(listFile)) return undefined;
  const jars = readFileSync(listFile, "utf8").trim().split(delimiter).filter(Boolean);
  if (jars.length === 0 || !jars.every((j) => existsSync(j))) return undefined;
  return jars;
}

/** A lock folder holding the owner's pid; a folder whose owner is gone (a killed run) is taken over. */
function tryLock(lock: string): boolean {
  try {
    mkdirSync(lock);
    writeFileSync(join(lock, "pid"), String(process.pid));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const owner = lockOwner(lock);
    const stale = owner !== undefined ? !processAlive(owner) : ageMs(lock) > 30_000; // no pid after 30 s: its owner died mid-write
    if (stale) rmSync(lock, { recursive: true, force: true });
    return false;
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function lockOwner(lock: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(lock, "pid"), "utf8"));
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined; // just created, pid not written yet
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const UNITS: Record<string, number> = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9 };

async function runMaven(opts: ResolveOptions, listFile: string): Promise<readonly string[]> {
  const mvn = findMaven(opts.maven, opts.env);
  const tmp = `${listFile}.${process.pid}.tmp`;
  const args = [
    "-B",
    "-f",
    POM_PATH,
    `-Dpulsar.version=${opts.version}`,
    `${DEPENDENCY_PLUGIN}:build-classpath`,
    `-Dmdep.outputFile=${tmp}`,
    "-Dmdep.includeScope=runtime",
  ];
  const command = [mvn, ...args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(" ");
  const started = Date.now();
  opts.progress(`resolving Apache Pulsar ${opts.version} from Maven (first run only; classpath cached under ${opts.cacheDir})`);

  const proc = spawn(mvn, args, { stdio: ["ignore", "pipe", "pipe"], env: opts.env });
  let tail: string[] = [];
  let files = 0;
  let bytes = 0;
  let lastReport = Date.now();
  let partial = "";
  const onData = (chunk: Buffer): void => {
    const lines = (partial + chunk.toString()).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      tail.push(line);
      if (tail.length > 40) tail = tail.slice(-40);
      // "Downloaded from central: https://.../x.jar (2.6 MB at 11 MB/s)"
      const m = /Downloaded from [^:]+: \S+ \(([\d.]+) (B|kB|KB|MB|GB)/.exec(line);
      if (m === null) continue;
      files++;
      bytes += Number(m[1]) * (UNITS[m[2]!] ?? 1);
      if (Date.now() - lastReport > 5000) {
        lastReport = Date.now();
        opts.progress(`… ${files} files downloaded (${(bytes / 1e6).toFixed(1)} MB), ${Math.round((Date.now() - started) / 1000)} s`);
      }
    }
  };
  proc.stdout.on("data", onData);
  proc.stderr.on("data", onData);
  const timer = setTimeout(() => proc.kill("SIGKILL"), Math.max(1, opts.timeoutMs));
  const code = await new Promise<number | null>((resolve, reject) => {
    proc.once("error", (err) => reject(new PulsarPrerequisiteError("mvn", `${mvn} could not be run (${err.message})`, MAVEN_FIX)));
    proc.once("exit", (c) => resolve(c));
  }).finally(() => clearTimeout(timer));
  const text = readIfExists(tmp);
  if (code !== 0 || text === undefined) {
    rmSync(tmp, { force: true });
    throw new PulsarResolveError(command, tail.join("\n") + (code === null ? "\n(killed: resolution took too long)" : ""));
  }
  renameSync(tmp, listFile); // atomic: readers never see half a list
  const jars = readClasspath(listFile);
  if (jars === undefined) throw new PulsarResolveError(command, `Maven wrote a classpath whose jars are missing:\n${text.slice(0, 500)}`);
  opts.progress(
    `resolved ${jars.length} jars in ${Math.round((Date.now() - started) / 1000)} s (${files} files, ${(bytes / 1e6).toFixed(1)} MB downloaded)`,
  );
  return jars;
}

function readIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
