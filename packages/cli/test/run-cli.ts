import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI as a user would (a child process with the given
 * environment on top of this one's); resolves when it exits. `stderrText()`
 * reads what it printed so far, for commands that run until stopped.
 */
export function runCli(args: readonly string[], env: Record<string, string | undefined>): Promise<Run> & { stderrText(): string; kill(signal: NodeJS.Signals): void } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const run: Run = { code: null, stdout: "", stderr: "" };
  child.stdout.on("data", (c: Buffer) => (run.stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (run.stderr += c.toString()));
  const done = new Promise<Run>((resolve) => child.once("exit", (code) => resolve({ ...run, code })));
  return Object.assign(done, { stderrText: () => run.stderr, kill: (signal: NodeJS.Signals) => void child.kill(signal) });
}
