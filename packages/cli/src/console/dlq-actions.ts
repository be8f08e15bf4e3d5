import type { DeadLetters } from "@cozebus/nats";
import type { ConsoleContext } from "./context.js";

/** What one replay or delete did to one dead letter. */
export type Outcome =
  | { readonly seq: number; readonly outcome: "replayed"; readonly subject: string; readonly stream: string; readonly streamSeq: number; readonly duplicate: boolean }
  | { readonly seq: number; readonly outcome: "deleted" }
  | { readonly seq: number; readonly outcome: "gone" }
  | { readonly seq: number; readonly outcome: "failed"; readonly error: string };

/** Removes a dead letter; one that is already gone (replayed or deleted by someone else) is not an error. */
async function removeIfThere(dlq: DeadLetters, seq: number): Promise<"deleted" | "gone"> {
  if ((await dlq.get(seq)) === undefined) return "gone";
  try {
    await dlq.remove(seq);
    return "deleted";
  } catch (err) {
    if ((await dlq.get(seq)) === undefined) return "gone"; // removed between the read and the delete
    throw err;
  }
}

/**
 * Replays one dead letter at most once. A dead letter that is no longer
 * there was replayed or deleted already: nothing is published. The publish
 * carries DeadLetters.replay's Nats-Msg-Id (`<ce-id>.replay.<dlq seq>`), so
 * two consoles replaying the same entry at once store one event (the second
 * gets a duplicate ack inside the stream's duplicate window).
 */
async function replayOne(dlq: DeadLetters, seq: number): Promise<Outcome> {
  if ((await dlq.get(seq)) === undefined) return { seq, outcome: "gone" };
  const ack = await dlq.replay(seq, { remove: false });
  await removeIfThere(dlq, seq);
  return { seq, outcome: "replayed", subject: ack.subject, stream: ack.stream, streamSeq: ack.seq, duplicate: ack.duplicate };
}

export async function runAction(ctx: ConsoleContext, action: "replay" | "delete", seqs: readonly number[]): Promise<Outcome[]> {
  const dlq = (await ctx.bus.jetstream()).deadLetters;
  return ctx.serially(async () => {
    const out: Outcome[] = [];
    for (const seq of seqs) {
      try {
        out.push(action === "replay" ? await replayOne(dlq, seq) : { seq, outcome: await removeIfThere(dlq, seq) });
      } catch (err) {
        out.push({ seq, outcome: "failed", error: (err as Error).message });
      }
    }
    return out;
  });
}
