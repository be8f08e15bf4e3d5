import { afterEach, describe, expect, it } from "vitest";
import { ManagedProcess } from "../src/process/managed-process.js";
import { alive, goneWithin } from "./process-state.js";

// Real child processes (node itself), so spawning, signals and reaping are the kernel's, not a stand-in's.
const live: ManagedProcess[] = [];
afterEach(async () => {
  for (const p of live.splice(0)) await p.stop("SIGKILL");
});

function managed(script: string, extra: Partial<ConstructorParameters<typeof ManagedProcess>[0]> = {}): ManagedProcess {
  const p = new ManagedProcess({ name: "the test server", command: process.execPath, args: ["-e", script], ...extra });
  live.push(p);
  return p;
}

describe("ManagedProcess", () => {
  it("a process that exits during start-up fails the start with its code and its last lines of output", async () => {
    const p = managed("for (let i = 1; i <= 40; i++) console.error('line ' + i); process.exit(3)");
    const err = await p.start(() => new Promise(() => undefined)).then(
      () => new Error("the start succeeded"),
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/^the test server exited during start-up \(code 3, signal null\):\n/);
    expect(err.message).toContain("line 40");
    expect(err.message).not.toMatch(/line 10\n/); // only the tail: 30 lines
    expect(p.running).toBe(false);
    expect(p.logs()).toContain("line 1\n");
  });

  it("a start that is not ready in time fails with the output so far; ready from the log passes", async () => {
    const slow = managed("console.log('warming up'); setInterval(() => {}, 1000)");
    // 3 s: node itself must have started and printed within the window (300 ms was not enough at load 15).
    await expect(slow.start(() => slow.waitForLog(/never printed/), 3000)).rejects.toThrow(/the test server did not report ready within 3000 ms:\nwarming up/);
    const quick = managed("console.log('booting'); setTimeout(() => console.log('ready now'), 50); setInterval(() => {}, 1000)");
    await quick.start(() => quick.waitForLog(/ready now/), 10_000);
    expect(quick.running).toBe(true);
    expect(quick.pid).toBeGreaterThan(0);
  });

  it("kill escalates to SIGKILL when the signal is ignored, and resolves only once the pid is gone", async () => {
    const p = managed("process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('up'); setInterval(() => {}, 1000)", { forceKillAfterMs: 300 });
    await p.start(() => p.waitForLog(/up/));
    const pid = p.pid!;
    await p.kill("SIGTERM");
    expect(alive(pid)).toBe(false);
    expect(p.running).toBe(false);
    expect(p.pid).toBeUndefined();
    expect(p.logs()).toContain("ignoring SIGTERM");
  });

  it("start after kill runs it again; stop is for good, cleans up once, and a second stop does nothing", async () => {
    let cleanups = 0;
    const p = managed("console.log('up'); setInterval(() => {}, 1000)", { cleanup: () => cleanups++, freshLogEachStart: true });
    await p.start(() => p.waitForLog(/up/));
    const first = p.pid!;
    await p.kill("SIGKILL");
    expect(await goneWithin(first, 5000)).toBe(true);
    await p.start(() => p.waitForLog(/up/));
    expect(p.pid).not.toBe(first);
    expect(p.logs()).toBe("up\n"); // the first run's output was dropped at the new start
    const second = p.pid!;
    await Promise.all([p.stop(), p.stop()]);
    await p.stop();
    expect(cleanups).toBe(1);
    expect(await goneWithin(second, 5000)).toBe(true);
    await expect(p.start(() => Promise.resolve())).rejects.toThrow(/was stopped for good/);
  });

  it("a command that cannot be spawned fails the start with the spawn error", async () => {
    const p = new ManagedProcess({ name: "nothing", command: "/nonexistent/cozebus-server", args: [] });
    live.push(p);
    await expect(p.start(() => new Promise(() => undefined))).rejects.toThrow(/ENOENT/);
  });
});
