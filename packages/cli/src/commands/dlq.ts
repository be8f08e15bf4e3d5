import type { DeadLetter, DeadLetterReason } from "@cozebus/nats";
import { connectBus, type GlobalFlags } from "../connect.js";
import { usageError } from "../errors.js";
import { decodeEventJson, type SchemaSet } from "../schemas.js";

function decoded(d: DeadLetter, schemas: SchemaSet | undefined): unknown {
  if (d.eventType === undefined) return undefined;
  try {
    return decodeEventJson(d.eventType, d.data, schemas);
  } catch {
    return undefined; // undecodable is often why it is here; the bytes stay available
  }
}

function summary(d: DeadLetter): Record<string, unknown> {
  return {
    seq: d.seq,
    time: d.time.toISOString(),
    reason: d.reason,
    deliveries: d.deliveries,
    subject: d.subject,
    origin: `${d.stream}#${d.sequence}`,
    consumer: d.consumer,
    type: d.eventType ?? null,
    id: d.eventId ?? null,
    error: d.error,
  };
}

/** `cozebus dlq list|show <seq>|replay <seq>|replay --all`: dead letters with their reason, origin and delivery count. */
const REASONS: readonly DeadLetterReason[] = ["non-retryable", "undecodable", "max-deliveries", "abandoned", "unknown-event"];

export async function dlqCommand(
  args: readonly string[],
  flags: GlobalFlags & { readonly all?: boolean; readonly limit?: number; readonly schemas?: SchemaSet; readonly reason?: string },
): Promise<number> {
  const [sub, seqText] = args;
  const seq = seqText !== undefined ? Number(seqText) : undefined;
  if (seq !== undefined && (!Number.isInteger(seq) || seq < 1)) throw usageError(`dead letter sequence must be a positive integer, got ${JSON.stringify(seqText)}`);
  if (sub === "show" && seq === undefined) throw usageError("usage: cozebus dlq show <seq>");
  if (sub === "replay" && seq === undefined && !flags.all) throw usageError("usage: cozebus dlq replay <seq> | --all");
  if (sub !== "list" && sub !== "show" && sub !== "replay") throw usageError("usage: cozebus dlq list|show <seq>|replay <seq>|replay --all");
  if (flags.reason !== undefined && !REASONS.includes(flags.reason as DeadLetterReason)) throw usageError(`--reason must be one of ${REASONS.join(", ")}, got ${JSON.stringify(flags.reason)}`);
  if (flags.reason !== undefined && sub !== "list" && !(sub === "replay" && flags.all)) throw usageError("--reason filters dlq list and dlq replay --all");
  const reason = flags.reason !== undefined ? { reason: flags.reason as DeadLetterReason } : {};
  const bus = await connectBus(flags);
  try {
    const dlq = (await bus.jetstream()).deadLetters;
    if (sub === "list") {
      const entries = await dlq.list({ limit: flags.limit ?? 100, ...reason });
      for (const d of entries) {
        const s = summary(d);
        process.stdout.write(flags.json ? `${JSON.stringify(s)}\n` : `#${d.seq} ${s["time"] as string} ${d.reason} after ${d.deliveries} deliveries  ${d.subject} (${s["origin"] as string}, consumer ${d.consumer})  ${d.error}\n`);
      }
      if (!flags.json && entries.length === 0) process.stdout.write("no dead letters\n");
      return 0;
    }
    if (sub === "show") {
      const d = await dlq.get(seq!);
      if (d === undefined) throw usageError(`no dead letter #${seq} in ${dlq.stream}`);
      const record = { ...summary(d), data: decoded(d, flags.schemas) ?? null, bytes: Buffer.from(d.data).toString("base64"), headers: Object.fromEntries(d.headers.entries()) };
      process.stdout.write(`${JSON.stringify(record, null, flags.json ? undefined : 2)}\n`);
      return 0;
    }
    if (flags.all) {
      const n = await dlq.replayAll(reason);
      process.stdout.write(flags.json ? `${JSON.stringify({ replayed: n })}\n` : `replayed ${n} dead letter(s)\n`);
      return 0;
    }
    const ack = await dlq.replay(seq!);
    process.stdout.write(flags.json ? `${JSON.stringify(ack)}\n` : `replayed #${seq} to ${ack.subject} (stream ${ack.stream}, seq ${ack.seq})\n`);
    return 0;
  } finally {
    await bus.drain().catch(() => undefined);
  }
}
