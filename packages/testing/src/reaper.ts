/**
 * Last-resort cleanup: when the test process exits (normally, or because a
 * runner gave up on it) every server still running is killed and its folder
 * deleted, so no stray nats-server outlives the tests that started it.
 */
const live = new Map<object, () => void>();
let installed = false;

export function trackForExitCleanup(owner: object, killNow: () => void): void {
  live.set(owner, killNow);
  if (installed) return;
  installed = true;
  process.once("exit", () => {
    for (const kill of live.values()) {
      try {
        kill();
      } catch {
        // Keep going: one failed cleanup must not leave the others running.
      }
    }
  });
}

export function untrack(owner: object): void {
  live.delete(owner);
}
