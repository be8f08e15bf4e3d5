import type { DeadLetter, DeadLetterReason } from "@cozebus/nats";
import { DeadLetters, type DeadLetter as PulsarDeadLetter } from "@cozebus/pulsar";
import { connectBus, connectPulsarCli, mqTypeOf, type GlobalFlags } from "../connect.js";
import { DOMAINS } from "../domains.js";
import { CliError, usageError } from "../errors.js";
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

export type DlqFlags = GlobalFlags & { readonly all?: boolean; readonly limit?: number; readonly schemas?: SchemaSet; readonly reason?: string };

export async function dlqCommand(args: readonly string[], flags: DlqFlags): Promise<number> {
  if (mqTypeOf(flags) === "pulsar") return dlqPulsar(args, flags);
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

/** A Pulsar dead letter in the same shape `dlq list` prints for NATS (seq -> id, origin -> the topic, consumer -> the subscription). */
function pulsarSummary(domain: string, d: PulsarDeadLetter): Record<string, unknown> {
  return {
    id: d.id,
    domain,
    time: d.time?.toISOString() ?? null,
    reason: d.reason,
    deliveries: d.deliveries ?? null,
    subject: d.subject ?? null,
    origin: d.topic ?? null,
    consumer: d.subscription ?? null,
    type: d.type ?? null,
    eventId: d.eventId ?? null,
    error: d.error ?? null,
  };
}

/** Dead letters are peeked one REST call each: how far `show`, `replay <id>` and `--reason` look. */
const SCAN_LIMIT = 1000;

/**
 * `cozebus dlq` on Pulsar: each domain's dead-letter topic `<root>.<domain>-DLQ`
 * (subscription `cozebus-dlq`), through DeadLetters of @cozebus/pulsar.
 * Dead letters are named by their message id there (`ledger:entry`, unique
 * on the broker), optionally `<domain>/ledger:entry`. list peeks (nothing
 * consumed); replay publishes back to the original topic (every group on it
 * gets the event again) and then removes the dead letter.
 */
async function dlqPulsar(args: readonly string[], flags: DlqFlags): Promise<number> {
  const [sub, idText] = args;
  const usage = "usage on Pulsar: cozebus dlq list [--limit N] [--reason R] | show <id> | replay <id> | replay --all [--reason R]   (<id>: ledger:entry, as dlq list prints it)";
  if (sub !== "list" && sub !== "show" && sub !== "replay") throw usageError(usage);
  if ((sub === "show" || (sub === "replay" && !flags.all)) && idText === undefined) throw usageError(usage);
  if (sub === "replay" && flags.all && idText !== undefined) throw usageError("dlq replay takes an id or --all, not both");
  const known = DOMAINS.map((x) => x.def.name);
  let only: string | undefined;
  let id: string | undefined;
  if (idText !== undefined) {
    const m = /^(?:([A-Za-z0-9_-]+)\/)?(\d+:\d+(?::-?\d+){0,2})$/.exec(idText);
    if (m === null) throw usageError(`a Pulsar dead letter id is ledger:entry (e.g. 123:4), optionally <domain>/123:4, as dlq list prints it; got ${JSON.stringify(idText)}`);
    if (m[1] !== undefined && !known.includes(m[1])) throw usageError(`unknown domain ${JSON.stringify(m[1])} in ${JSON.stringify(idText)}; domains: ${known.join(", ")}`);
    [only, id] = [m[1], m[2]!];
  }
  if (flags.reason !== undefined && !REASONS.includes(flags.reason as DeadLetterReason)) throw usageError(`--reason must be one of ${REASONS.join(", ")}, got ${JSON.stringify(flags.reason)}`);
  if (flags.reason !== undefined && sub !== "list" && !(sub === "replay" && flags.all)) throw usageError("--reason filters dlq list and dlq replay --all");
  const transport = await connectPulsarCli(flags);
  const domains = (only !== undefined ? [only] : known).map((domain) => ({ domain, dlq: new DeadLetters(transport, domain) }));
  const byReason = (d: PulsarDeadLetter): boolean => flags.reason === undefined || d.reason === flags.reason;
  /** The dead letter with this id and its domain, looking through the first SCAN_LIMIT of each. */
  const locate = async (wanted: string): Promise<{ domain: string; dlq: DeadLetters; letter: PulsarDeadLetter }> => {
    for (const { domain, dlq } of domains) {
      const letter = (await dlq.list({ limit: SCAN_LIMIT })).find((d) => d.id === wanted);
      if (letter !== undefined) return { domain, dlq, letter };
    }
    throw new CliError(`no dead letter ${wanted} in ${domains.map((d) => d.dlq.topic).join(", ")} (looked at the first ${SCAN_LIMIT} of each); cozebus dlq list shows them`, 1);
  };
  try {
    if (sub === "list") {
      const limit = flags.limit ?? 100;
      const rows: Array<Record<string, unknown>> = [];
      for (const { domain, dlq } of domains) {
        if ((await dlq.count()) === undefined) continue; // not provisioned: nothing was ever kept there
        const entries = (await dlq.list({ limit: flags.reason !== undefined ? Math.max(limit, SCAN_LIMIT) : limit })).filter(byReason);
        rows.push(...entries.map((d) => pulsarSummary(domain, d)));
      }
      for (const s of rows.slice(0, limit)) {
        process.stdout.write(
          flags.json
            ? `${JSON.stringify(s)}\n`
            : `${s["id"] as string} ${(s["time"] as string | null) ?? "-"} ${s["reason"] as string} after ${(s["deliveries"] as number | null) ?? "?"} deliveries  ${(s["subject"] as string | null) ?? "-"} (${(s["origin"] as string | null) ?? "?"}, subscription ${(s["consumer"] as string | null) ?? "?"})  ${(s["error"] as string | null) ?? ""}\n`,
        );
      }
      if (!flags.json && rows.length === 0) process.stdout.write("no dead letters\n");
      return 0;
    }
    if (sub === "show") {
      const { domain, letter } = await locate(id!);
      const data = letter.type === undefined ? undefined : decodedOrUndefined(letter.type, letter.data, flags.schemas);
      const record = { ...pulsarSummary(domain, letter), key: letter.key ?? null, data: data ?? null, bytes: Buffer.from(letter.data).toString("base64"), properties: letter.properties };
      process.stdout.write(`${JSON.stringify(record, null, flags.json ? undefined : 2)}\n`);
      return 0;
    }
    if (!flags.all) {
      const { dlq, letter } = await locate(id!);
      const r = await dlq.replay(letter.id);
      await dlq.close();
      if (r.failed.length > 0) throw new CliError(`could not replay ${letter.id}: ${r.failed.map((f) => f.error).join("; ")}`, 1);
      if (r.replayed.length === 0) throw new CliError(`dead letter ${letter.id} was not found when replaying (replayed or removed meanwhile?)`, 1);
      process.stdout.write(flags.json ? `${JSON.stringify({ replayed: letter.id, topic: letter.topic, subject: letter.subject ?? null })}\n` : `replayed ${letter.id} to ${letter.topic ?? "?"} (${letter.subject ?? "?"})\n`);
      return 0;
    }
    let replayed = 0;
    const failed: string[] = [];
    for (const { dlq } of domains) {
      if (!((await dlq.count()) ?? 0)) continue;
      const ids = flags.reason === undefined ? "all" : (await dlq.list({ limit: SCAN_LIMIT })).filter(byReason).map((d) => d.id);
      if (ids !== "all" && ids.length === 0) continue;
      const r = await dlq.replay(ids);
      await dlq.close();
      replayed += r.replayed.length;
      failed.push(...r.failed.map((f) => `${f.id}: ${f.error}`));
    }
    process.stdout.write(flags.json ? `${JSON.stringify({ replayed, failed })}\n` : `replayed ${replayed} dead letter(s)${failed.length > 0 ? `; failed (kept): ${failed.join("; ")}` : ""}\n`);
    return failed.length > 0 ? 1 : 0;
  } finally {
    await transport.drain().catch(() => undefined);
  }
}

function decodedOrUndefined(type: string, data: Uint8Array, schemas: SchemaSet | undefined): unknown {
  try {
    return decodeEventJson(type, data, schemas);
  } catch {
    return undefined;
  }
}
