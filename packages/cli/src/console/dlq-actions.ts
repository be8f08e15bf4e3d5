import type { ConsoleContext } from "./context.js";
import type { Outcome } from "./source.js";

export type { Outcome } from "./source.js";

/**
 * Runs a confirmed replay or delete, one dead letter after the other and
 * one action at a time per console. Each store's replay and remove are
 * idempotent (a dead letter no longer there is "gone", nothing published),
 * so a second submit of the same confirmation does nothing more.
 */
export async function runAction(ctx: ConsoleContext, action: "replay" | "delete", ids: readonly string[]): Promise<Outcome[]> {
  const dlq = ctx.source.deadLetters;
  return ctx.serially(async () => {
    const out: Outcome[] = [];
    for (const id of ids) {
      try {
        out.push(action === "replay" ? await dlq.replay(id) : await dlq.remove(id));
      } catch (err) {
        out.push({ id, label: dlq.label(id), outcome: "failed", error: (err as Error).message });
      }
    }
    return out;
  });
}
