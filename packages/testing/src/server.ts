import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureNatsServer, type ResolvedNatsServer } from "./binary.js";
import { renderConfig, type ServerAuth, type ServerTls } from "./config.js";
import { freePort } from "./ports.js";
import { ManagedProcess, tail } from "./process/managed-process.js";

export interface NatsServerOptions {
  /** JetStream on the server; on by default. */
  readonly jetstream?: boolean;
  readonly tls?: ServerTls;
  readonly auth?: ServerAuth;
  /** Raw nats-server configuration appended to the generated file. */
  readonly extraConfig?: string;
  /**
   * Path of your own nats.conf to start from: its limits, payload size,
   * accounts and the rest are kept; the server still runs on random loopback
   * ports with its own temp store (every `store_dir` is replaced). Its
   * `jetstream` block, when present, replaces the default one.
   */
  readonly baseConfigFile?: string;
  /**
   * Path to the binary. With `version` too, it must be that version. Wins over
   * `version`, NATS_SERVER_BIN and COZEBUS_NATS_VERSION (see resolveNatsServer).
   */
  readonly binary?: string;
  /**
   * The release to run: `2.9`/`2.9.10` (Debian's binary), `2.10`, `2.11`,
   * `2.12` (pinned to 2.10.24, 2.11.17, 2.12.15; built with go install into
   * ~/.cache/cozebus on first use) or an exact 2.x.y. Default:
   * NATS_SERVER_BIN, then COZEBUS_NATS_VERSION, then 2.12.15.
   */
  readonly version?: string;
  /** How long to wait for the server to report healthy (default 15 s). */
  readonly startTimeoutMs?: number;
  /** Name shown in the server's logs and info (default: random). */
  readonly serverName?: string;
  /** This server's JetStream domain (`jetstream { domain }`), e.g. "hub" for a hub that leaf nodes reach. */
  readonly jetstreamDomain?: string;
  /** Accept leaf node connections on a random loopback port: see `leafnodeUrl`. */
  readonly leafnodeListen?: boolean;
  /** Connect to these servers as a leaf node (a hub's `leafnodeUrl`); `start()` waits until each connection is up. */
  readonly leafRemotes?: readonly string[];
}

export interface NatsServer extends AsyncDisposable {
  /** `nats://127.0.0.1:<port>` (or `tls://` when TLS is configured). */
  readonly url: string;
  readonly port: number;
  /** The monitoring endpoint (`/varz`, `/jsz`, `/healthz`). */
  readonly monitorUrl: string;
  /** This server's own temp folder (config, JetStream store, logs). */
  readonly dir: string;
  /** `nats-leaf://127.0.0.1:<port>` with `leafnodeListen`: what a leaf node's `leafRemotes` names. */
  readonly leafnodeUrl: string | undefined;
  readonly serverName: string;
  /** The version the binary reports, e.g. `2.12.15`. */
  readonly version: string;
  /** The binary it runs. */
  readonly binary: string;
  /** True while the process runs. */
  readonly running: boolean;
  /** The process id while it runs. */
  readonly pid: number | undefined;
  /** The server's log output so far (for assertions and failure reports). */
  logs(): string;
  /** Stops the process but keeps its store, ports and config, for `start()`. SIGKILL simulates a crash. */
  kill(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Starts the process again on the same ports with the same store. */
  start(): Promise<void>;
  /** `kill(signal)` then `start()`. */
  restart(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Stops the server and deletes its folder. Safe to call twice. */
  stop(): Promise<void>;
}

interface NodePlan {
  readonly serverName: string;
  readonly port: number;
  readonly httpPort: number;
  readonly cluster?: { readonly name: string; readonly port: number; readonly routes: readonly number[] };
  readonly leafPort?: number;
}

class ManagedServer implements NatsServer {
  readonly url: string;
  readonly port: number;
  readonly monitorUrl: string;
  readonly serverName: string;
  readonly leafnodeUrl: string | undefined;
  readonly version: string;
  readonly binary: string;
  readonly #process: ManagedProcess;

  constructor(
    readonly dir: string,
    plan: NodePlan,
    server: ResolvedNatsServer,
    private readonly opts: NatsServerOptions,
    /** The text of `opts.baseConfigFile`, read once by the caller. */
    baseConfig: string | undefined,
  ) {
    this.port = plan.port;
    this.serverName = plan.serverName;
    this.version = server.version;
    this.binary = server.binary;
    this.url = `${opts.tls ? "tls" : "nats"}://127.0.0.1:${plan.port}`;
    this.monitorUrl = `http://127.0.0.1:${plan.httpPort}`;
    const configFile = join(dir, "nats.conf");
    this.leafnodeUrl = plan.leafPort !== undefined ? `nats-leaf://127.0.0.1:${plan.leafPort}` : undefined;
    const leafnodes = plan.leafPort !== undefined || opts.leafRemotes !== undefined ? { port: plan.leafPort, remotes: opts.leafRemotes } : undefined;
    const config = renderConfig({
      serverName: plan.serverName,
      port: plan.port,
      httpPort: plan.httpPort,
      storeDir: join(dir, "jetstream"),
      jetstream: opts.jetstream !== false,
      ...(opts.tls ? { tls: opts.tls } : {}),
      ...(opts.auth ? { auth: opts.auth } : {}),
      ...(plan.cluster ? { cluster: plan.cluster } : {}),
      ...(opts.extraConfig ? { extraConfig: opts.extraConfig } : {}),
      ...(baseConfig !== undefined ? { baseConfig } : {}),
      ...(opts.jetstreamDomain !== undefined ? { jetstreamDomain: opts.jetstreamDomain } : {}),
      ...(leafnodes ? { leafnodes } : {}),
    });
    writeFileSync(configFile, config);
    this.#process = new ManagedProcess({
      name: `nats-server ${plan.serverName}`,
      command: server.binary,
      args: ["-c", configFile],
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
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

  async start(): Promise<void> {
    if (this.#process.stopped) throw new Error(`nats-server ${this.serverName} was stopped for good; start a new one`);
    await this.#process.start(async () => {
      await this.#waitHealthy();
      if ((this.opts.leafRemotes?.length ?? 0) > 0) await this.#waitLeafConnected();
    });
  }

  /** /healthz is green before a leaf node has dialled its remotes: wait until /leafz lists all of them. */
  async #waitLeafConnected(): Promise<void> {
    const want = this.opts.leafRemotes?.length ?? 0;
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 15_000);
    let have = 0;
    while (Date.now() < deadline && this.running) {
      have = Number((await getJson(`${this.monitorUrl}/leafz`))?.["leafnodes"] ?? 0);
      if (have >= want) return;
      await sleep(50);
    }
    throw new Error(`nats-server ${this.serverName} has ${have} of ${want} leaf node connections after start-up (remotes ${this.opts.leafRemotes?.join(", ")}):\n${tail(this.logs())}`);
  }

  async #waitHealthy(): Promise<void> {
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 15_000);
    let last = "no answer yet";
    while (Date.now() < deadline) {
      if (!this.running) return; // the process start() reports it
      try {
        const res = await fetch(`${this.monitorUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return;
        last = `${res.status} ${await res.text()}`;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      await sleep(50);
    }
    throw new Error(`nats-server ${this.serverName} was not healthy in time (last /healthz: ${last}):\n${tail(this.logs())}`);
  }

  async kill(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    await this.#process.kill(signal);
  }

  async restart(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    await this.kill(signal);
    await this.start();
  }

  async stop(): Promise<void> {
    await this.#process.stop("SIGTERM");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function isPortClash(err: unknown): boolean {
  return err instanceof Error && /address already in use/i.test(err.message);
}

function newDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `cozebus-nats-${label}-`));
}

/** A server in `dir`; if its configuration cannot even be written (a bad option), the folder goes too. */
function createServer(dir: string, plan: NodePlan, binary: ResolvedNatsServer, opts: NatsServerOptions, baseConfig: string | undefined): ManagedServer {
  try {
    return new ManagedServer(dir, plan, binary, opts, baseConfig);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Starts a real nats-server on a random loopback port with its own temp
 * folder, and resolves once `/healthz` answers. Stop it with `stop()` (or
 * `await using`); anything left running is killed when the process exits.
 */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const baseConfig = readBaseConfig(opts.baseConfigFile); // before any folder exists: a bad path leaves nothing behind
  const binary = await ensureNatsServer(opts); // may build the release first (once per machine)
  for (let attempt = 1; ; attempt++) {
    const serverName = opts.serverName ?? `cozebus-test-${Math.random().toString(36).slice(2, 8)}`;
    const leafPort = opts.leafnodeListen ? { leafPort: await freePort() } : {};
    const server = createServer(newDir("single"), { serverName, port: await freePort(), httpPort: await freePort(), ...leafPort }, binary, opts, baseConfig);
    try {
      await server.start();
      return server;
    } catch (err) {
      await server.stop();
      if (attempt < 3 && isPortClash(err)) continue;
      throw err;
    }
  }
}

export interface NatsCluster extends AsyncDisposable {
  readonly servers: readonly NatsServer[];
  /** The version every node runs. */
  readonly version: string;
  /** Every node's client URL, for a client's server list. */
  readonly urls: readonly string[];
  /**
   * Resolves when every running node has routes to all the others and knows
   * the JetStream meta leader (call it after restarting nodes).
   */
  waitFormed(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface NatsClusterOptions extends Omit<NatsServerOptions, "serverName"> {
  /** Number of nodes (default 3). */
  readonly size?: number;
}

/**
 * Starts a JetStream cluster of `size` nodes on loopback, fully meshed with
 * routes, and resolves when every node is healthy (JetStream meta leader
 * elected and every node current with it).
 */
export async function startNatsCluster(opts: NatsClusterOptions = {}): Promise<NatsCluster> {
  const baseConfig = readBaseConfig(opts.baseConfigFile); // before any folder exists: a bad path leaves nothing behind
  const binary = await ensureNatsServer(opts); // may build the release first (once per machine)
  // A port freePort() found free can be taken by another process before the node binds it: start again on new ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startClusterOnce(opts, binary, baseConfig);
    } catch (err) {
      if (attempt < 3 && isPortClash(err)) continue;
      throw err;
    }
  }
}

async function startClusterOnce(opts: NatsClusterOptions, binary: Awaited<ReturnType<typeof ensureNatsServer>>, baseConfig: ReturnType<typeof readBaseConfig>): Promise<NatsCluster> {
  const size = opts.size ?? 3;
  const name = `cozebus-${Math.random().toString(36).slice(2, 8)}`;
  const plans: NodePlan[] = [];
  const clusterPorts: number[] = [];
  for (let i = 0; i < size; i++) clusterPorts.push(await freePort());
  for (let i = 0; i < size; i++) {
    plans.push({
      serverName: `${name}-n${i + 1}`,
      port: await freePort(),
      httpPort: await freePort(),
      cluster: { name, port: clusterPorts[i]!, routes: clusterPorts.filter((_, j) => j !== i) },
      ...(opts.leafnodeListen ? { leafPort: await freePort() } : {}),
    });
  }
  const servers: ManagedServer[] = [];
  try {
    for (const p of plans) servers.push(createServer(newDir("cluster"), p, binary, opts, baseConfig));
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    throw err;
  }
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  const waitFormed = (timeoutMs = 30_000): Promise<void> => waitClusterFormed(servers, opts.jetstream !== false, timeoutMs);
  try {
    // allSettled: on a failure every node has finished starting (or failed) before they are all stopped.
    const started = await Promise.allSettled(servers.map((s) => s.start()));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    await waitFormed();
  } catch (err) {
    await stop();
    throw err;
  }
  return { servers, version: binary.version, urls: servers.map((s) => s.url), waitFormed, stop, [Symbol.asyncDispose]: stop };
}

async function getJson(url: string): Promise<Record<string, unknown> | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return res.ok ? ((await res.json()) as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How many other nodes this one has routes to. Not `num_routes`: since 2.10
 * a node keeps a pool of routes per peer (3 by default, plus one for $SYS),
 * so 2.12 reports 8 routes in a 3-node mesh, and 4 can mean one peer only.
 */
function peersRouted(routez: Record<string, unknown> | undefined): number {
  const routes = Array.isArray(routez?.["routes"]) ? (routez["routes"] as Array<{ remote_id?: unknown }>) : [];
  return new Set(routes.map((r) => r.remote_id)).size;
}

/** /healthz turns green per node before the mesh is complete; this waits for the mesh and the meta leader. */
async function waitClusterFormed(servers: readonly ManagedServer[], jetstream: boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let state = "";
  while (Date.now() < deadline) {
    const running = servers.filter((s) => s.running);
    const checks = await Promise.all(
      running.map(async (s) => {
        const routes = peersRouted(await getJson(`${s.monitorUrl}/routez`));
        if (!jetstream) return { ok: routes >= running.length - 1, routes, leader: "-" };
        const jsz = await getJson(`${s.monitorUrl}/jsz`);
        const leader = String((jsz?.["meta_cluster"] as { leader?: string } | undefined)?.leader ?? "");
        return { ok: routes >= running.length - 1 && leader !== "", routes, leader };
      }),
    );
    if (checks.every((c) => c.ok)) return;
    state = checks.map((c, i) => `${running[i]!.serverName}: routes to ${c.routes} peers, leader ${c.leader || "none"}`).join("; ");
    await sleep(100);
  }
  throw new Error(`the cluster did not form within ${timeoutMs} ms (${state})`);
}

function readBaseConfig(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`baseConfigFile ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
}
