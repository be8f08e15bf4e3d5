import { spawn, type ChildProcess } from "node:child_process";
import { trackForExitCleanup, untrack } from "../reaper.js";

export interface ManagedProcessSpec {
  /** How errors name the server, e.g. `mariadbd` or `the Pulsar broker`. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Run as this uid/gid (PostgreSQL refuses root). */
  readonly uid?: number;
  readonly gid?: number;
  /** How much output `logs()` keeps (default 256 KiB): the tail, since the start is rarely what explains a failure. */
  readonly logLimit?: number;
  /** Each `start()` begins a fresh log, so a readiness line from the run before cannot count for this one. */
  readonly freshLogEachStart?: boolean;
  /** How long `kill()` waits after its signal before it sends SIGKILL (default 10 s). */
  readonly forceKillAfterMs?: number;
  /** What is sent when the test process exits with the server still running (default SIGKILL). */
  readonly lastResortSignal?: NodeJS.Signals;
  /** Synchronous: at `stop()` and when the test process exits (e.g. delete the server's folder). */
  readonly cleanup?: () => void;
  /** Called with the whole log after every chunk of output (e.g. to read a version line). */
  readonly onOutput?: (log: string) => void;
  /** Builds the error a failed start rejects with (default: an Error with the message and the last 30 lines of output). */
  readonly startError?: (message: string, log: string) => Error;
}

export function tail(log: string, lines = 30): string {
  return log.trimEnd().split("\n").slice(-lines).join("\n");
}

/**
 * One server child process: spawned, its output kept for error messages,
 * killed and waited for, and killed at the latest when the test process
 * exits. The server around it owns its config and its readiness checks.
 */
export class ManagedProcess {
  #proc: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #log = "";
  #stopped = false;
  #logWaiters: Array<{ readonly re: RegExp; readonly resolve: () => void }> = [];

  constructor(private readonly spec: ManagedProcessSpec) {}

  get running(): boolean {
    return this.#proc !== undefined && this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  get pid(): number | undefined {
    return this.running ? this.#proc?.pid : undefined;
  }

  /** True once `stop()` was called: a stopped process cannot start again. */
  get stopped(): boolean {
    return this.#stopped;
  }

  logs(): string {
    return this.#log;
  }

  /** Resolves when this start's output matches `re` (for servers that announce readiness in their log). */
  waitForLog(re: RegExp): Promise<void> {
    if (re.test(this.#log)) return Promise.resolve();
    return new Promise((resolve) => this.#logWaiters.push({ re, resolve }));
  }

  /**
   * Spawns the process and resolves when `ready()` does. Rejects, with the
   * last lines of output, if it cannot be spawned, exits first, or (with
   * `timeoutMs`) is not ready in time. A failed start leaves the process to
   * `kill()`/`stop()`, as the caller decides.
   */
  async start(ready: () => Promise<void>, timeoutMs?: number): Promise<void> {
    if (this.#stopped) throw new Error(`${this.spec.name} was stopped for good; start a new one`);
    if (this.running) return;
    if (this.spec.freshLogEachStart) this.#log = "";
    this.#logWaiters = [];
    const proc = spawn(this.spec.command, this.spec.args, {
      stdio: ["ignore", "pipe", "pipe"],
      ...(this.spec.cwd !== undefined ? { cwd: this.spec.cwd } : {}),
      ...(this.spec.env !== undefined ? { env: this.spec.env } : {}),
      ...(this.spec.uid !== undefined ? { uid: this.spec.uid } : {}),
      ...(this.spec.gid !== undefined ? { gid: this.spec.gid } : {}),
    });
    this.#proc = proc;
    trackForExitCleanup(this, () => this.#lastResort());
    const limit = this.spec.logLimit ?? 256 * 1024;
    const append = (chunk: Buffer): void => {
      this.#log += chunk.toString();
      if (this.#log.length > limit) this.#log = this.#log.slice(-limit);
      this.spec.onOutput?.(this.#log);
      this.#logWaiters = this.#logWaiters.filter((w) => (w.re.test(this.#log) ? (w.resolve(), false) : true));
    };
    proc.stdout?.on("data", append);
    proc.stderr?.on("data", append);
    this.#exited = new Promise((resolve) => proc.once("exit", () => resolve()));
    const failed = (message: string): Error => (this.spec.startError ?? ((m, log) => new Error(`${m}:\n${tail(log)}`)))(message, this.#log);
    const exitedEarly = (): Error => failed(`${this.spec.name} exited during start-up (code ${proc.exitCode}, signal ${proc.signalCode})`);
    const spawnFailed = new Promise<never>((_, reject) => proc.once("error", reject));
    const exited = this.#exited.then(() => {
      throw exitedEarly();
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      if (timeoutMs !== undefined) timer = setTimeout(() => reject(failed(`${this.spec.name} did not report ready within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([ready(), spawnFailed, exited, timedOut]);
    } finally {
      clearTimeout(timer);
    }
    // A readiness check that gave up because the process is gone must not pass for ready.
    if (!this.running) throw exitedEarly();
  }

  /** Sends `signal`, escalates to SIGKILL after `forceKillAfterMs`, and resolves once the process is reaped (its pid gone). */
  async kill(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const proc = this.#proc;
    if (proc === undefined || !this.running) return;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill("SIGKILL"), this.spec.forceKillAfterMs ?? 10_000);
    await this.#exited;
    clearTimeout(timer);
  }

  /** `kill(signal)`, then `cleanup`; for good. Safe to call twice. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.kill(signal);
    untrack(this);
    this.spec.cleanup?.();
  }

  /** Synchronous: the test process is exiting, so nothing can be awaited. */
  #lastResort(): void {
    if (this.running) this.#proc?.kill(this.spec.lastResortSignal ?? "SIGKILL");
    this.spec.cleanup?.();
  }
}
