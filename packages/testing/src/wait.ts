/** Test helpers that every suite against a real server needs. */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` (sync or async) every 10 ms until it is true; throws with
 * `what` after `timeoutMs`. For waiting on deliveries, never for timing.
 */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** A logger that discards everything (keeps test output readable). */
export const silentLogger = { info: (): void => undefined, warn: (): void => undefined, error: (): void => undefined };
