import { checkSubscribePattern, type InboundMessage } from "@cozebus/nats";
import { findEvent } from "../catalog.js";
import { connectBus, type GlobalFlags } from "../connect.js";
import { usageError } from "../errors.js";
import { decodeEventJson, type SchemaSet } from "../schemas.js";

export interface SubFlags {
  readonly group?: string;
  readonly count?: number;
  /** A descriptor set that may know events newer than this build (--schemas). */
  readonly schemas?: SchemaSet;
}

/** One received message as a line: decoded when its ce-type is a known event, reported as undecodable otherwise. */
function render(m: InboundMessage, json: boolean, schemas: SchemaSet | undefined): string {
  const type = m.event?.type;
  let data: unknown;
  let error: string | undefined;
  if (type === undefined) error = "no ce-type header: not a cozebus event";
  else {
    try {
      data = decodeEventJson(type, m.data, schemas);
      if (data === undefined) error = `unknown event type ${type}${schemas ? "" : " (a newer schema? pass its descriptor set with --schemas)"}`;
    } catch (err) {
      error = `undecodable ${type}: ${(err as Error).message}`;
    }
  }
  const record = { subject: m.subject, type: type ?? null, id: m.event?.id ?? null, time: m.event?.time?.toISOString() ?? null, ...(error === undefined ? { data } : { error, bytes: m.data.length }) };
  if (json) return JSON.stringify(record);
  return error === undefined ? `${record.time ?? "-"} ${m.subject} ${type} ${JSON.stringify(data)}` : `${record.time ?? "-"} ${m.subject} !! ${error} (${m.data.length} bytes)`;
}

/**
 * `cozebus sub <event|subject-pattern> [--group G] [--count N] [--json]`:
 * prints events as they arrive (core NATS, so it observes without taking
 * events from durable consumers). An undecodable message is reported as
 * such and never stops it.
 */
export async function subCommand(args: readonly string[], flags: GlobalFlags & SubFlags): Promise<number> {
  const [ref] = args;
  if (ref === undefined) throw usageError("usage: cozebus sub <event|subject-pattern> [--group G] [--count N] [--json]");
  // A newer descriptor set wins over this build's catalogue; anything else is a subject pattern.
  const def = flags.schemas?.eventDef(ref) ?? findEvent(ref)?.def;
  const bus = await connectBus(flags);
  const pattern = def !== undefined ? bus.pattern(def.subject) : checkSubscribePattern(ref);
  let seen = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  await bus.subscribe(
    pattern,
    (m) => {
      if (flags.count !== undefined && seen >= flags.count) return;
      seen++;
      process.stdout.write(`${render(m, flags.json, flags.schemas)}\n`);
      if (flags.count !== undefined && seen >= flags.count) done();
    },
    { ...(flags.group !== undefined ? { queue: flags.group } : {}) },
  );
  // On stderr, so --json output stays clean; scripts can wait for this line.
  process.stderr.write(`listening on ${pattern}${flags.group ? ` (group ${flags.group})` : ""}; Ctrl-C to stop\n`);
  const stop = (): void => done();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  await finished;
  await bus.drain().catch(() => undefined);
  return 0;
}
