import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { freePort } from "../ports.js";
import { ManagedProcess } from "../process/managed-process.js";
import { DEFAULT_PULSAR_VERSION, defaultPulsarCacheDir, findJava, resolvePulsarClasspath } from "./classpath.js";
import { renderLog4jConfig, renderStandaloneConf, type PulsarConfigValue } from "./config.js";
import { PulsarStartError } from "./errors.js";
import { createPulsarSecretKey, createPulsarToken, type PulsarTokenOptions } from "./token.js";

export interface PulsarAuthOptions {
  /** The role that may do everything (default `admin`); the broker's own clients use it too. */
  readonly superUserRole?: string;
}

export interface PulsarOptions {
  /** Pulsar version to resolve from Maven Central (default 3.0.7, the one this harness is checked with). */
  readonly version?: string;
  /**
   * JWT token auth: every client needs a token signed with the broker's key,
   * and authorization is on (a role needs a grant on the namespace or topic).
   * `true` means a super user named `admin`.
   */
  readonly auth?: boolean | PulsarAuthOptions;
  /** Raw standalone.conf entries, applied last (they override the generated ones). */
  readonly extraConfig?: Readonly<Record<string, PulsarConfigValue>>;
  /** Path to `java` (17+); defaults to JAVA_HOME's, then PATH. */
  readonly java?: string;
  /** Path to `mvn`, needed only until the classpath is cached; defaults to MAVEN_HOME's, then PATH. */
  readonly maven?: string;
  /** Where resolved classpaths are cached (default COZEBUS_PULSAR_CACHE, else ~/.cache/cozebus/pulsar). */
  readonly cacheDir?: string;
  /** JVM heap ceiling in MiB (default 512). */
  readonly maxHeapMb?: number;
  /** JVM direct-memory ceiling in MiB (default 256; Netty and the bookie's caches live there). */
  readonly maxDirectMemoryMb?: number;
  /** More JVM flags, after the generated ones (so they win: `-XX:TieredStopAtLevel=4` brings back the full JIT for a benchmark). */
  readonly jvmArgs?: readonly string[];
  /** How long to wait for the broker to report healthy, once its classpath is there (default 180 s: a loaded machine (several JVMs on 2 cores) was seen to need more than 120). */
  readonly startTimeoutMs?: number;
  /** How long Maven may take to resolve on a first run (default 15 min). */
  readonly resolveTimeoutMs?: number;
  readonly clusterName?: string;
  /** Broker log level (default `info`). */
  readonly logLevel?: "debug" | "info" | "warn" | "error";
  /** Where progress of a first-run resolution goes (default: stderr). */
  readonly onProgress?: (message: string) => void;
}

export interface PulsarAuth {
  readonly superUserRole: string;
  /** A token for the super-user role. */
  readonly superUserToken: string;
  /** The HS256 secret the broker verifies tokens with. */
  readonly secretKey: Uint8Array;
  /** A token for `role`, signed with this broker's key. */
  createToken(role: string, opts?: PulsarTokenOptions): string;
}

export interface PulsarBroker extends AsyncDisposable {
  /** `pulsar://127.0.0.1:<port>`: the binary protocol. */
  readonly serviceUrl: string;
  /** `http://127.0.0.1:<port>`: the admin REST API (`/admin/v2/...`) and the WebSocket API share it. */
  readonly webServiceUrl: string;
  /** `ws://127.0.0.1:<port>/ws/v2`: append `/producer/persistent/<tenant>/<ns>/<topic>` and the like. */
  readonly webSocketUrl: string;
  readonly brokerPort: number;
  readonly webPort: number;
  /** The embedded bookie's port. */
  readonly bookiePort: number;
  readonly clusterName: string;
  readonly version: string;
  /** This broker's own temp folder (config, metadata, ledgers). */
  readonly dir: string;
  /** Set when the broker runs with token auth. */
  readonly auth: PulsarAuth | undefined;
  /** True while the JVM runs. */
  readonly running: boolean;
  readonly pid: number | undefined;
  /** The broker's log output so far (the tail, when it is long). */
  logs(): string;
  /** A request to the admin REST API, as the super user when auth is on: `admin("/admin/v2/clusters")`. */
  admin(path: string, init?: RequestInit): Promise<Response>;
  /** Stops the JVM but keeps its data, ports and config, for `start()`. SIGTERM closes gracefully; SIGKILL simulates a crash. */
  kill(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Starts the JVM again on the same ports with the same data, and waits until it is healthy. */
  start(): Promise<void>;
  /** `kill(signal)` then `start()`. */
  restart(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Kills the JVM and deletes its folder. Safe to call twice. */
  stop(): Promise<void>;
}

const LOG_LIMIT = 1024 * 1024;

/**
 * What the distribution's bin/pulsar passes on Java 9+: BookKeeper's
 * posix_fadvise and direct CRC32 (java.io, java.util.zip), Netty's direct
 * buffers (java.nio, jdk.internal.misc), Netty's DNS resolver (sun.net) and
 * the JVM GC metrics logger (sun.management).
 */
const ADD_OPENS = [
  "java.base/java.io",
  "java.base/java.util.zip",
  "java.base/java.nio",
  "java.base/jdk.internal.misc",
  "java.base/sun.net",
  "java.management/sun.management",
].flatMap((pkg) => ["--add-opens", `${pkg}=ALL-UNNAMED`]);

interface Plan {
  readonly brokerPort: number;
  readonly webPort: number;
  readonly bookiePort: number;
}

class ManagedPulsar implements PulsarBroker {
  readonly serviceUrl: string;
  readonly webServiceUrl: string;
  readonly webSocketUrl: string;
  readonly brokerPort: number;
  readonly webPort: number;
  readonly bookiePort: number;
  readonly #process: ManagedProcess;

  constructor(
    readonly dir: string,
    plan: Plan,
    java: string,
    classpath: readonly string[],
    readonly version: string,
    readonly clusterName: string,
    readonly auth: PulsarAuth | undefined,
    private readonly opts: PulsarOptions,
  ) {
    this.brokerPort = plan.brokerPort;
    this.webPort = plan.webPort;
    this.bookiePort = plan.bookiePort;
    this.serviceUrl = `pulsar://127.0.0.1:${plan.brokerPort}`;
    this.webServiceUrl = `http://127.0.0.1:${plan.webPort}`;
    this.webSocketUrl = `ws://127.0.0.1:${plan.webPort}/ws/v2`;
    const conf = join(dir, "standalone.conf");
    const log4j = join(dir, "log4j2.properties");
    const data = join(dir, "data");
    const jvmTmp = join(dir, "tmp");
    mkdirSync(jvmTmp);
    let authFiles: { secretKeyFile: string; superUserRole: string; superUserTokenFile: string } | undefined;
    if (auth) {
      authFiles = { secretKeyFile: join(dir, "token-secret.key"), superUserRole: auth.superUserRole, superUserTokenFile: join(dir, "super-user.token") };
      writeFileSync(authFiles.secretKeyFile, auth.secretKey, { mode: 0o600 });
      writeFileSync(authFiles.superUserTokenFile, auth.superUserToken, { mode: 0o600 });
    }
    writeFileSync(
      conf,
      renderStandaloneConf({
        clusterName,
        brokerPort: plan.brokerPort,
        webPort: plan.webPort,
        ...(authFiles ? { auth: authFiles } : {}),
        ...(opts.extraConfig ? { extraConfig: opts.extraConfig } : {}),
      }),
    );
    writeFileSync(log4j, renderLog4jConfig(opts.logLevel ?? "info"));
    const args = [
      `-Xmx${opts.maxHeapMb ?? 512}m`,
      `-XX:MaxDirectMemorySize=${opts.maxDirectMemoryMb ?? 256}m`,
      // C1 only: a short-lived test broker on a small machine starts in about half the time,
      // and the C2 code it would otherwise wait for never pays back within a test run.
      "-XX:TieredStopAtLevel=1",
      // An out-of-memory broker should die and be reported, not limp on.
      "-XX:+ExitOnOutOfMemoryError",
      ...ADD_OPENS,
      "-Dio.netty.tryReflectionSetAccessible=true",
      "-Djava.net.preferIPv4Stack=true",
      // NAR extraction and other scratch files stay in this broker's folder.
      `-Djava.io.tmpdir=${jvmTmp}`,
      `-Dlog4j.configurationFile=${log4j}`,
      // The standalone starter shuts Log4j down itself after closing the broker, so its last lines are not lost.
      "-Dlog4j.shutdownHookEnabled=false",
      ...(opts.jvmArgs ?? []),
      // Its config is read from --config: PulsarStandaloneBuilder would drop it (apache/pulsar#7492).
      "org.apache.pulsar.PulsarStandaloneStarter",
      "--config",
      conf,
      "--no-functions-worker",
      "--no-stream-storage",
      // Explicit folders: the defaults are relative to the working directory, and an existing
      // ZooKeeper folder there would switch the starter to ZooKeeper mode.
      "--metadata-dir",
      join(data, "metadata"),
      "--bookkeeper-dir",
      join(data, "bookkeeper"),
      "--zookeeper-dir",
      join(data, "zookeeper"),
      "--bookkeeper-port",
      String(plan.bookiePort),
    ];
    const env: NodeJS.ProcessEnv = { ...process.env, CLASSPATH: classpath.join(delimiter) }; // 200+ jars: kept out of the visible command line
    delete env["PULSAR_STANDALONE_USE_ZOOKEEPER"]; // would force the ZooKeeper mode this harness does not start
    this.#process = new ManagedProcess({
      name: "the Pulsar broker",
      command: java,
      args,
      cwd: dir,
      env,
      logLimit: LOG_LIMIT,
      // A JVM closing gracefully can take a while (ledgers, metadata store); a broker is given 30 s before SIGKILL.
      forceKillAfterMs: 30_000,
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
      startError: (message, log) => new PulsarStartError(`${message}:\n${failureLines(log)}`, log),
    });
  }

  get running(): boolean {
    return this.#process.running;
  }

  get pid(): number | undefined {
    return this.#process.pid;
  }

  logs(): string {
    return this.#process.logs();
  }

  admin(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.auth && !headers.has("authorization")) headers.set("authorization", `Bearer ${this.auth.superUserToken}`);
    return fetch(`${this.webServiceUrl}${path}`, { ...init, headers });
  }

  async start(): Promise<void> {
    if (this.#process.stopped) throw new Error(`the Pulsar broker in ${this.dir} was stopped for good; start a new one`);
    await this.#process.start(() => this.#waitReady());
  }

  /**
   * Healthy means `/admin/v2/brokers/health` answers "ok" (it round-trips a
   * message through the broker and the bookie) and `public/default` exists:
   * the standalone starter creates that namespace only after the web service
   * is up, so health alone can come a moment too early for a first producer.
   */
  async #waitReady(): Promise<void> {
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 180_000);
    let last = "no answer yet";
    while (Date.now() < deadline) {
      if (!this.running) return; // the process start() reports it
      try {
        const health = await this.admin("/admin/v2/brokers/health", { signal: AbortSignal.timeout(5000) });
        const body = await health.text();
        if (health.ok) {
          const ns = await this.admin("/admin/v2/namespaces/public/default", { signal: AbortSignal.timeout(5000) });
          await ns.body?.cancel();
          if (ns.ok) return;
          last = `health ok, public/default: ${ns.status}`;
        } else {
          last = `health: ${health.status} ${body.slice(0, 200)}`;
        }
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      await sleep(250);
    }
    throw new PulsarStartError(`the Pulsar broker was not healthy in time (last check: ${last}):\n${failureLines(this.logs())}`, this.logs());
  }

  async kill(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    await this.#process.kill(signal);
  }

  async restart(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    await this.kill(signal);
    await this.start();
  }

  async stop(): Promise<void> {
    // SIGKILL: its data is deleted next, so a graceful close (seconds of it) would buy nothing.
    await this.#process.stop("SIGKILL");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** The lines that say why a start failed: errors and exceptions first, then the tail. */
function failureLines(log: string): string {
  const lines = log.trimEnd().split("\n");
  const errors = lines.filter((l) => /\b(ERROR|FATAL)\b|Exception|Error:/.test(l)).slice(0, 15);
  const tail = lines.slice(-25);
  return [...(errors.length > 0 ? ["errors:", ...errors, "last lines:"] : []), ...tail].join("\n");
}

function isPortClash(err: unknown): boolean {
  return err instanceof PulsarStartError && /BindException|Address already in use/i.test(err.logs);
}

/** The kernel may hand the same free port out twice in a row; three listeners need three. */
async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function makeAuth(opts: PulsarOptions["auth"]): PulsarAuth | undefined {
  if (opts === undefined || opts === false) return undefined;
  const superUserRole = (opts === true ? undefined : opts.superUserRole) ?? "admin";
  const secretKey = createPulsarSecretKey();
  return {
    superUserRole,
    superUserToken: createPulsarToken(secretKey, superUserRole),
    secretKey,
    createToken: (role, tokenOpts) => createPulsarToken(secretKey, role, tokenOpts),
  };
}

function progressToStderr(message: string): void {
  process.stderr.write(`[@cozebus/testing] ${message}\n`);
}

/**
 * Starts a real Apache Pulsar standalone broker (broker, embedded bookie,
 * RocksDB metadata, WebSocket service) on random loopback ports with its own
 * temp folder, and resolves once it is healthy. Its jars come from Maven
 * Central through the local Maven repository, resolved on the first run and
 * cached. Stop it with `stop()` (or `await using`); anything left running is
 * killed when the process exits.
 */
export async function startPulsar(opts: PulsarOptions = {}): Promise<PulsarBroker> {
  for (const key of ["maxHeapMb", "maxDirectMemoryMb", "startTimeoutMs", "resolveTimeoutMs"] as const) {
    const v = opts[key];
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new RangeError(`startPulsar: ${key} must be a positive integer, got ${v}`);
  }
  const java = findJava(opts.java); // before anything is created: a missing Java leaves nothing behind
  const version = opts.version ?? DEFAULT_PULSAR_VERSION;
  const classpath = await resolvePulsarClasspath({
    version,
    cacheDir: opts.cacheDir ?? defaultPulsarCacheDir(),
    maven: opts.maven,
    progress: opts.onProgress ?? progressToStderr,
    timeoutMs: opts.resolveTimeoutMs ?? 15 * 60_000,
    env: process.env,
  });
  const clusterName = opts.clusterName ?? "cozebus-test";
  const auth = makeAuth(opts.auth);
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), "cozebus-pulsar-"));
    let broker: ManagedPulsar;
    try {
      const [brokerPort, webPort, bookiePort] = await distinctFreePorts(3);
      const plan = { brokerPort: brokerPort!, webPort: webPort!, bookiePort: bookiePort! };
      broker = new ManagedPulsar(dir, plan, java, classpath, version, clusterName, auth, opts);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    try {
      await broker.start();
      return broker;
    } catch (err) {
      await broker.stop();
      if (attempt < 3 && isPortClash(err)) continue;
      throw err;
    }
  }
}
