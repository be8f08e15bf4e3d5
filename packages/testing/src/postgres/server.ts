import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../ports.js";
import { ManagedProcess, tail } from "../process/managed-process.js";
import { findPostgresBinaries, type PostgresBinaries } from "./binaries.js";

export interface PostgresOptions {
  /** Folder holding `initdb` and `postgres`; default: COZEBUS_POSTGRES_BIN, then Debian's newest `/usr/lib/postgresql/<major>/bin`, then PATH. */
  readonly binDir?: string;
  /** The superuser initdb creates (default `cozebus`). */
  readonly user?: string;
  /** The database the URL names; created at start-up unless it is `postgres` (default `cozebus`). */
  readonly database?: string;
  /**
   * When this process runs as root (as CI does), PostgreSQL refuses to start,
   * so initdb and the server run under this system user's uid and gid
   * (default: `postgres`, which Debian's package creates, else `nobody`).
   * Ignored when not root: the server then runs as the current user.
   */
  readonly runAs?: string;
  /** Extra `postgresql.conf` settings, applied last (e.g. `{ max_connections: 200 }`). */
  readonly settings?: Readonly<Record<string, string | number | boolean>>;
  /** How long to wait for "ready to accept connections" (default 30 s; initdb has its own 60 s). */
  readonly startTimeoutMs?: number;
}

export interface PostgresServer extends AsyncDisposable {
  /** `postgres://<user>:<password>@127.0.0.1:<port>/<database>`: what `new pg.Pool({ connectionString })` takes. */
  readonly url: string;
  /** Always `127.0.0.1`: the server listens on loopback only. */
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  /** Generated per server; TCP connections must give it (scram-sha-256). */
  readonly password: string;
  /** The server's unix socket folder (inside `dir`); local connections there need no password. */
  readonly socketDir: string;
  /** This server's own temp folder (data directory, socket, logs). */
  readonly dir: string;
  /** The major version of the binaries, e.g. 15. */
  readonly major: number | undefined;
  readonly binaries: PostgresBinaries;
  /** The uid the server runs as (a non-root one when this process is root). */
  readonly uid: number;
  /** True while the postmaster runs. */
  readonly running: boolean;
  readonly pid: number | undefined;
  /** The server's log output so far. */
  logs(): string;
  /** Stops the postmaster but keeps the data directory and port, for `start()`. SIGKILL simulates a crash (the next start recovers from the WAL). */
  kill(signal?: "SIGTERM" | "SIGINT" | "SIGKILL"): Promise<void>;
  /** Starts the server again on the same port with the same data. */
  start(): Promise<void>;
  /** Stops the server (fast shutdown) and deletes its folder. Safe to call twice. */
  stop(): Promise<void>;
}

const READY = /database system is ready to accept connections/;

interface Identity {
  readonly uid: number;
  readonly gid: number;
  /** Whether initdb/postgres must switch to it (this process is root). */
  readonly switchTo: boolean;
}

/** uid and gid of a system user, from /etc/passwd (Node has no getpwnam). */
function lookupUser(name: string): { uid: number; gid: number } | undefined {
  let passwd: string;
  try {
    passwd = readFileSync("/etc/passwd", "utf8");
  } catch {
    return undefined;
  }
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

function identity(runAs: string | undefined): Identity {
  const uid = process.getuid?.() ?? -1;
  const gid = process.getgid?.() ?? -1;
  if (uid !== 0) return { uid, gid, switchTo: false };
  const names = runAs !== undefined ? [runAs] : ["postgres", "nobody"];
  for (const n of names) {
    const u = lookupUser(n);
    if (u && u.uid !== 0) return { ...u, switchTo: true };
  }
  throw new Error(
    `this process runs as root, and PostgreSQL refuses to run as root; no non-root user to run it as was found (looked for ${names.join(", ")} in /etc/passwd). Create one, or pass runAs.`,
  );
}

function render(value: string | number | boolean): string {
  if (typeof value === "number") return String(value);
  if (typeof value === "boolean") return value ? "on" : "off";
  return `'${value.replace(/'/g, "''")}'`;
}

/** Runs a PostgreSQL program to completion under the server's identity. */
function run(file: string, args: readonly string[], who: Identity, cwd: string, timeoutMs: number, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn(file, args, {
      cwd,
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", LANG: "C", LC_ALL: "C" },
      ...(who.switchTo ? { uid: who.uid, gid: who.gid } : {}),
    });
    if (input !== undefined) proc.stdin?.end(input);
    let out = "";
    proc.stdout?.on("data", (c: Buffer) => (out += c.toString()));
    proc.stderr?.on("data", (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
    proc.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${file} ${args.join(" ")} failed (code ${code}, signal ${signal}):\n${tail(out)}`));
    });
  });
}

class ManagedPostgres implements PostgresServer {
  readonly host = "127.0.0.1";
  readonly url: string;
  readonly socketDir: string;
  readonly major: number | undefined;
  readonly #dataDir: string;
  readonly #process: ManagedProcess;

  constructor(
    readonly dir: string,
    readonly port: number,
    readonly user: string,
    readonly password: string,
    readonly database: string,
    readonly binaries: PostgresBinaries,
    private readonly who: Identity,
    private readonly opts: PostgresOptions,
  ) {
    this.major = binaries.major;
    this.socketDir = join(dir, "socket");
    this.#dataDir = join(dir, "data");
    this.url = `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
    this.#process = new ManagedProcess({
      name: "postgres",
      command: binaries.postgres,
      args: ["-D", this.#dataDir],
      cwd: dir,
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", LANG: "C", LC_ALL: "C" },
      ...(who.switchTo ? { uid: who.uid, gid: who.gid } : {}),
      freshLogEachStart: true,
      // SIGQUIT: immediate shutdown, and the postmaster takes its backends down with it (a SIGKILL would leave them to notice alone).
      lastResortSignal: "SIGQUIT",
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    });
  }

  get uid(): number {
    return this.who.uid;
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

  /** initdb into `<dir>/data`, with the generated password and this server's settings. */
  async init(): Promise<void> {
    mkdirSync(this.socketDir);
    const pwfile = join(this.dir, "pwfile");
    writeFileSync(pwfile, `${this.password}\n`, { mode: 0o600 });
    if (this.who.switchTo) for (const p of [this.dir, this.socketDir, pwfile]) chownSync(p, this.who.uid, this.who.gid);
    await run(
      this.binaries.initdb,
      [
        "--pgdata",
        this.#dataDir,
        "--username",
        this.user,
        "--pwfile",
        pwfile,
        // TCP needs the password; the unix socket sits in this server's own 0700 folder.
        "--auth-host",
        "scram-sha-256",
        "--auth-local",
        "trust",
        "--encoding",
        "UTF8",
        "--no-locale",
        "--no-sync",
      ],
      this.who,
      this.dir,
      60_000,
    );
    rmSync(pwfile, { force: true });
    const settings: Record<string, string | number | boolean> = {
      listen_addresses: "127.0.0.1",
      port: this.port,
      unix_socket_directories: this.socketDir,
      // A throwaway test server: durability across an OS crash buys nothing. A commit still reaches
      // the OS before it returns (synchronous_commit stays on), so a SIGKILLed server keeps every
      // committed transaction, as crash tests need.
      fsync: false,
      full_page_writes: false,
      max_connections: 100,
      shared_buffers: "32MB",
      logging_collector: false,
      log_destination: "stderr",
      log_min_messages: "warning",
      log_line_prefix: "%m [%p] ",
      ...this.opts.settings,
    };
    const conf = Object.entries(settings)
      .map(([k, v]) => `${k} = ${render(v)}`)
      .join("\n");
    writeFileSync(join(this.#dataDir, "postgresql.auto.conf"), `# written by @cozebus/testing\n${conf}\n`);
    if (this.who.switchTo) chownSync(join(this.#dataDir, "postgresql.auto.conf"), this.who.uid, this.who.gid);
  }

  async start(): Promise<void> {
    if (this.#process.stopped) throw new Error(`the PostgreSQL server in ${this.dir} was stopped for good; start a new one`);
    await this.#process.start(() => this.#process.waitForLog(READY), this.opts.startTimeoutMs ?? 30_000);
  }

  /** The database the URL names, when it is not one initdb made: created in single-user mode, before the server listens. */
  async createDatabase(): Promise<void> {
    if (this.database === "postgres") return;
    const ident = `"${this.database.replace(/"/g, '""')}"`;
    const out = await run(this.binaries.postgres, ["--single", "-D", this.#dataDir, "postgres"], this.who, this.dir, 60_000, `CREATE DATABASE ${ident}\n`);
    if (/ERROR:/.test(out)) throw new Error(`creating database ${ident} failed:\n${tail(out)}`);
  }

  async kill(signal: "SIGTERM" | "SIGINT" | "SIGKILL" = "SIGINT"): Promise<void> {
    await this.#process.kill(signal);
  }

  async stop(): Promise<void> {
    // SIGINT is PostgreSQL's fast shutdown: open sessions are ended, nothing waits for clients.
    await this.#process.stop("SIGINT");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

function isPortClash(err: unknown): boolean {
  return err instanceof Error && /could not bind|address already in use/i.test(err.message);
}

/**
 * Starts a throwaway PostgreSQL server: `initdb` into its own temp folder,
 * listening on 127.0.0.1 only on a random free port (its unix socket inside
 * that folder), a generated password for TCP, fsync off. Resolves when the
 * server reports it accepts connections and the database exists. Stop it with
 * `stop()` (or `await using`); anything left running is killed and its folder
 * deleted when the test process exits. As root (CI), initdb and the server run
 * under the `postgres` (or `nobody`) uid, since PostgreSQL refuses root.
 */
export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresServer> {
  const binaries = findPostgresBinaries(opts.binDir);
  const who = identity(opts.runAs);
  const user = opts.user ?? "cozebus";
  const database = opts.database ?? "cozebus";
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), "cozebus-postgres-"));
    const server = new ManagedPostgres(dir, await freePort(), user, randomBytes(18).toString("base64url"), database, binaries, who, opts);
    try {
      await server.init();
      await server.createDatabase();
      await server.start();
      return server;
    } catch (err) {
      await server.stop();
      if (attempt < 3 && isPortClash(err)) continue;
      throw err;
    }
  }
}
