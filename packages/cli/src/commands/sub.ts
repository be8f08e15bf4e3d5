import { randomBytes } from "node:crypto";
import { SubjectTemplate, type EventDef } from "@cozebus/core";
import type { EventSelector, Outcome } from "@cozebus/core/transport";
import { checkSubscribePattern } from "@cozebus/nats";
import { DOMAINS } from "../domains.js";
import { findEvent } from "../catalog.js";
import { connectBus, connectPulsarCli, mqTypeOf, type GlobalFlags } from "../connect.js";
import { usageError } from "../errors.js";
import { decodeEventJson, type SchemaSet } from "../schemas.js";

export interface SubFlags {
  readonly group?: string;
  readonly count?: number;
  /** A descriptor set that may know events newer than this build (--schemas). */
  readonly schemas?: SchemaSet;
}

const USAGE = "usage: cozebus sub <event|subject-pattern> [--group G] [--count N] [--json]";

/** What render needs of a received event: a NATS message and a port Delivery both have it. */
interface Received {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly event?: { readonly type: string; readonly id: string; readonly time?: Date | undefined } | undefined;
}

/** One received message as a line: decoded when its ce-type is a known event, reported as undecodable otherwise. */
function render(m: Received, json: boolean, schemas: SchemaSet | undefined): string {
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

/** Counts and prints until `count` events were printed or a signal comes. */
function printer(flags: GlobalFlags & SubFlags): { print: (m: Received) => boolean; finished: Promise<void> } {
  let seen = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const stop = (): void => done();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return {
    finished,
    /** False once the count is reached: the event was not printed. */
    print: (m) => {
      if (flags.count !== undefined && seen >= flags.count) return false;
      seen++;
      process.stdout.write(`${render(m, flags.json, flags.schemas)}\n`);
      if (flags.count !== undefined && seen >= flags.count) done();
      return true;
    },
  };
}

/**
 * `cozebus sub <event|subject-pattern> [--group G] [--count N] [--json]`:
 * prints events as they arrive. On NATS over core NATS, so it observes
 * without taking events from durable consumers. On Pulsar through a
 * subscription of its own (see subPulsar). An undecodable message is
 * reported as such and never stops it.
 */
export async function subCommand(args: readonly string[], flags: GlobalFlags & SubFlags): Promise<number> {
  const [ref] = args;
  if (ref === undefined) throw usageError(USAGE);
  // A newer descriptor set wins over this build's catalogue; anything else is a subject pattern.
  const def = flags.schemas?.eventDef(ref) ?? findEvent(ref)?.def;
  if (mqTypeOf(flags) === "pulsar") return subPulsar(ref, def, flags);
  const bus = await connectBus(flags);
  const pattern = def !== undefined ? bus.pattern(def.subject) : checkSubscribePattern(ref);
  const out = printer(flags);
  await bus.subscribe(pattern, (m) => void out.print(m), { ...(flags.group !== undefined ? { queue: flags.group } : {}) });
  // On stderr, so --json output stays clean; scripts can wait for this line.
  process.stderr.write(`listening on ${pattern}${flags.group ? ` (group ${flags.group})` : ""}; Ctrl-C to stop\n`);
  await out.finished;
  await bus.drain().catch(() => undefined);
  return 0;
}

/** The domain of an event's subject template: `coze.<domain>.…`. */
const domainOf = (def: EventDef): string => def.subject.split(".")[1] ?? "";

/**
 * Pulsar has no subject patterns and no way to look at a topic without a
 * subscription. So `sub` takes one event (its topic) or a whole domain
 * (`coze.<domain>.>` or `<domain>`: every topic of the domain, as a
 * domain-wide subscriber sees them) and subscribes through the port:
 *
 * - without --group: a subscription of its own, `cozebus-cli-<random>`
 *   (Shared). It gets its own copy of every event, so it takes nothing from
 *   the services' groups; it starts at the newest event (like a core NATS
 *   subscription, it sees what is published while it listens) and it is
 *   deleted when sub ends, so it never keeps a backlog.
 * - with --group G: the subscription G, kept after sub ends (the next
 *   `sub --group G` resumes where it stopped). Joining a service's group
 *   shares that group's events: what sub prints is acked and not handled by
 *   the service. Events past --count are handed back (negatively acked).
 */
async function subPulsar(ref: string, def: EventDef | undefined, flags: GlobalFlags & SubFlags): Promise<number> {
  const transport = await connectPulsarCli(flags);
  const root = transport.subjectRoot;
  let domain: string;
  let events: readonly EventSelector[] | "domain";
  let what: string;
  if (def !== undefined) {
    domain = domainOf(def);
    const template = SubjectTemplate.parse(def.subject);
    events = [{ template }];
    what = transport.topicOf({ address: { domain, template, fields: {} } });
  } else {
    const known = DOMAINS.map((d) => d.def.name);
    const m = new RegExp(`^(?:${root.replace(/\./g, "\\.")}\\.)?([A-Za-z0-9_-]+)(?:\\.>)?$`).exec(ref);
    if (m === null || (!ref.includes(".") && !known.includes(m[1]!)) || (ref.includes(".") && !ref.endsWith(".>"))) {
      await transport.close();
      throw usageError(
        `on Pulsar (COZE_MQ_TYPE=pulsar) sub takes an event (cozebus events lists them) or a whole domain (${root}.<domain>.> or <domain>), not the subject pattern ${JSON.stringify(ref)}: Pulsar has a topic per event type and no subject wildcards`,
      );
    }
    domain = m[1]!;
    events = "domain";
    what = `every topic of domain ${domain} (${transport.names.tenant}/${transport.names.namespace}/${root}.${domain}.*)`;
  }
  const own = flags.group === undefined;
  const group = flags.group ?? `cozebus-cli-${randomBytes(4).toString("hex")}`;
  const out = printer(flags);
  let sub;
  try {
    sub = await transport.subscribe({ domain, group, qos: "at-least-once", events, concurrency: 1, onError: (e) => transport.report(e) }, (d) => {
      // Past --count: handed back for the group's other members (or the next sub), never acked away.
      const outcome: Outcome = out.print(d) ? { type: "ack" } : { type: "retry", delayMs: 0 };
      return Promise.resolve(outcome);
    });
  } catch (err) {
    await transport.close();
    throw err;
  }
  process.stderr.write(`listening on ${what} (subscription ${group}${own ? ", removed on exit" : ", kept"}); Ctrl-C to stop\n`);
  await out.finished;
  await sub.stop().catch(() => undefined);
  await transport.drain().catch(() => undefined);
  if (own) await deleteSubscription(transport, domain, events, group);
  return 0;
}

/**
 * Removes the CLI's own subscription from every topic it was on (REST). With
 * force: the broker's WebSocket proxy may not have let go of the consumer
 * the close handshake ended yet; the subscription is this process's alone.
 */
async function deleteSubscription(transport: Awaited<ReturnType<typeof connectPulsarCli>>, domain: string, events: readonly EventSelector[] | "domain", group: string): Promise<void> {
  const { tenant, namespace, root } = transport.names;
  const topics =
    events === "domain"
      ? (await transport.admin.topics(tenant, namespace).catch(() => [] as string[])).filter((t) => t.startsWith(`persistent://${tenant}/${namespace}/${root}.${domain}.`))
      : events.map((e) => transport.topicOf({ address: { domain, template: e.template, fields: {} } }));
  for (const topic of topics) {
    await transport.admin.deleteSubscription(topic, group).catch((err: unknown) => process.stderr.write(`cozebus: could not remove subscription ${group} from ${topic} (${(err as Error).message}); remove it with pulsar-admin topics unsubscribe\n`));
  }
}
