import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { freePort } from "./ports.js";
import { ManagedProcess, tail } from "./process/managed-process.js";

export interface MariadbOptions {
  /** Folder holding `mariadbd` and `mariadb-install-db`; default: COZEBUS_MARIADB_BIN, then Debian's `/usr/sbin` + `/usr/bin`, then PATH. */
  readonly binDir?: string;
  /** The user the URL names, created at start-up with a generated password (default `cozebus`). */
  readonly user?: string;
  /** The database the URL names, created at start-up (default `cozebus`). */
  readonly database?: string;
  /** Extra server options, as `--key=value` (e.g. `{ "max-connections": 200 }`). */
  readonly settings?: Readonly<Record<string, string | number | boolean>>;
  /** How long to wait for "ready for connections" (default 30 s; mariadb-install-db has its own 60 s). */
  readonly startTimeoutMs?: number;
}

export interface MariadbServer extends AsyncDisposable {
  /** `mysql://<user>:<password>@127.0.0.1:<port>/<database>`: what `mysql2.createPool(url)` takes. */
  readonly url: string;
  /** Always `127.0.0.1`: the server listens on loopback only. */
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  /** The server's unix socket (inside `dir`); root connects there without a password. */
  readonly socket: string;
  /** This server's own temp folder (data directory, socket, logs). */
  readonly dir: string;
  /** e.g. `10.11.19-MariaDB-0+deb12u1`, from the server's start line. */
  readonly version: string;
  readonly running: boolean;
  readonly pid: number | undefined;
  logs(): string;
  /** Stops the server but keeps the data directory and port, for `start()`. SIGKILL simulates a crash (InnoDB recovers at the next start). */
  kill(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Starts the server again on the same port with the same data. */
  start(): Promise<void>;
  /** Stops the server and deletes its folder. Safe to call twice. */
  stop(): Promise<void>;
}

/** Neither the `binDir` option, COZEBUS_MARIADB_BIN, Debian's folders nor PATH has mariadbd and mariadb-install-db. */
export class MariadbNotFoundError extends Error {
  constructor(looked: readonly string[]) {
    super(
      `no MariaDB server binaries (mariadbd and mariadb-install-db) found; looked in: ${looked.join(", ")}. ` +
        "Install Debian's server (`apt-get install mariadb-server`; .ci/run does it), or point COZEBUS_MARIADB_BIN at a folder holding both.",
    );
    this.name = "MariadbNotFoundError";
  }
}

const executable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** mariadbd and mariadb-install-db: the option's or COZEBUS_MARIADB_BIN's folder (both there), else Debian's /usr/sbin + /usr/bin, else PATH. */
export function findMariadbBinaries(binDir?: string, env: NodeJS.ProcessEnv = process.env): { readonly mariadbd: string; readonly installDb: string } {
  const explicit = binDir ?? (env["COZEBUS_MARIADB_BIN"] || undefined);
  const dirs = explicit !== undefined ? [explicit] : ["/usr/sbin", "/usr/bin", ...(env["PATH"] ?? "").split(delimiter).filter(Boolean)];
  const find = (name: string): string | undefined => dirs.map((d) => join(d, name)).find(executable);
  const mariadbd = find("mariadbd");
  const installDb = find("mariadb-install-db");
  if (mariadbd === undefined || installDb === undefined) throw new MariadbNotFoundError(explicit !== undefined ? [`${explicit} (${binDir !== undefined ? "binDir option" : "COZEBUS_MARIADB_BIN"})`] : ["/usr/sbin", "/usr/bin", "PATH"]);
  return { mariadbd, installDb };
}

const READY = /ready for connections/;
const sqlString = (s: string): string => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
const sqlIdent = (s: string): string => `\`${s.replace(/`/g, "``")}\``;
/** mariadbd takes the name of the user to run as; as root, root itself (a throwaway server in a folder of its own). */
const currentUser = (): string => (process.getuid?.() === 0 ? "root" : (process.env["USER"] ?? process.env["LOGNAME"] ?? "root"));

class ManagedMariadb implements MariadbServer {
  readonly host = "127.0.0.1";
  readonly url: string;
  readonly socket: string;
  version = "";
  readonly #dataDir: string;
  readonly #initFile: string;
  readonly #process: ManagedProcess;

  constructor(
    readonly dir: string,
    readonly port: number,
    readonly user: string,
    readonly password: string,
    readonly database: string,
    private readonly bin: { readonly mariadbd: string; readonly installDb: string },
    private readonly opts: MariadbOptions,
  ) {
    this.socket = join(dir, "mysqld.sock");
    this.#dataDir = join(dir, "data");
    this.#initFile = join(dir, "init.sql");
    this.url = `mysql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
    this.#process = new ManagedProcess({
      name: "mariadbd",
      command: bin.mariadbd,
      args: this.#args(),
      cwd: dir,
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", LANG: "C", LC_ALL: "C", TZ: "UTC" },
      freshLogEachStart: true,
      onOutput: (log) => {
        const v = /Version: '([^']+)'/.exec(log);
        if (v) this.version = v[1]!;
      },
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

  /** mariadb-install-db into `<dir>/data`; the user and database come from an init file the server runs at every start (idempotent). */
  async init(): Promise<void> {
    mkdirSync(this.#dataDir);
    await new Promise<void>((resolve, reject) => {
      const proc = spawn(this.bin.installDb, ["--no-defaults", `--datadir=${this.#dataDir}`, `--user=${currentUser()}`, "--auth-root-authentication-method=socket", "--skip-test-db", "--skip-name-resolve"], {
        cwd: this.dir,
        stdio: ["ignore", "pipe", "pipe"],
        env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", LANG: "C", LC_ALL: "C" },
      });
      let text = "";
      proc.stdout.on("data", (c: Buffer) => (text += c.toString()));
      proc.stderr.on("data", (c: Buffer) => (text += c.toString()));
      const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
      proc.once("error", (err) => (clearTimeout(timer), reject(err)));
      proc.once("exit", (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else reject(new Error(`mariadb-install-db failed (code ${code}, signal ${signal}):\n${tail(text)}`));
      });
    });
    const account = `${sqlString(this.user)}@'127.0.0.1'`;
    writeFileSync(
      this.#initFile,
      [
        `CREATE DATABASE IF NOT EXISTS ${sqlIdent(this.database)};`,
        `CREATE USER IF NOT EXISTS ${account} IDENTIFIED BY ${sqlString(this.password)};`,
        `GRANT ALL PRIVILEGES ON *.* TO ${account};`,
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
  }

  #args(): string[] {
    const settings: Record<string, string | number | boolean> = {
      // A throwaway test server: an OS crash is not what it survives. A commit still reaches the OS before it returns
      // (flush at commit = 2 writes the log at every commit), so a SIGKILLed server keeps every committed transaction.
      "innodb-flush-log-at-trx-commit": 2,
      "innodb-buffer-pool-size": "64M",
      "skip-log-bin": true,
      "max-connections": 200,
      ...this.opts.settings,
    };
    return [
      "--no-defaults",
      `--datadir=${this.#dataDir}`,
      `--port=${this.port}`,
      "--bind-address=127.0.0.1",
      "--skip-networking=0",
      `--socket=${this.socket}`,
      `--pid-file=${join(this.dir, "mysqld.pid")}`,
      `--user=${currentUser()}`,
      "--skip-name-resolve",
      `--init-file=${this.#initFile}`,
      ...Object.entries(settings).map(([k, v]) => (v === true ? `--${k}` : `--${k}=${String(v)}`)),
    ];
  }

  async start(): Promise<void> {
    if (this.#process.stopped) throw new Error(`the MariaDB server in ${this.dir} was stopped for good; start a new one`);
    await this.#process.start(() => this.#process.waitForLog(READY), this.opts.startTimeoutMs ?? 30_000);
  }

  async kill(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    await this.#process.kill(signal);
  }

  async stop(): Promise<void> {
    // SIGTERM is mariadbd's normal shutdown: connections are closed, nothing waits for clients.
    await this.#process.stop("SIGTERM");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

const isPortClash = (err: unknown): boolean => err instanceof Error && /Can't start server: Bind on TCP\/IP port|Address already in use/i.test(err.message);

/**
 * Starts a throwaway MariaDB server: `mariadb-install-db` into its own temp
 * folder, `mariadbd` listening on 127.0.0.1 only on a random free port (its
 * unix socket inside that folder), a user with a generated password and the
 * database, both made by an init file at start-up. Resolves when the server
 * reports it accepts connections. Runs as the current user (as root:
 * `--user=root`, which mariadbd needs to be told). Stop it with `stop()` (or
 * `await using`); anything left running is killed and its folder deleted
 * when the test process exits.
 */
export async function startMariadb(opts: MariadbOptions = {}): Promise<MariadbServer> {
  const bin = findMariadbBinaries(opts.binDir);
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), "cozebus-mariadb-"));
    const server = new ManagedMariadb(dir, await freePort(), opts.user ?? "cozebus", randomBytes(18).toString("base64url"), opts.database ?? "cozebus", bin, opts);
    try {
      await server.init();
      await server.start();
      return server;
    } catch (err) {
      await server.stop();
      if (attempt < 3 && isPortClash(err)) continue;
      throw err;
    }
  }
}
