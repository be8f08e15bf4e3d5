import { readFileSync } from "node:fs";

/** Running and not a zombie (an orphan is reaped by PID 1 only eventually, or never in some containers). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/**
 * Whether `pid` is gone within `withinMs`. A SIGKILL is delivered at once, but the kernel
 * tears a large process down (a JVM unmapping its heap) over some milliseconds, so asking
 * right after the signal can see it still there.
 */
export async function goneWithin(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}
