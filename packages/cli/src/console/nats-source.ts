import { checkSubscribePattern, compareStream, isCozebusError, type Bus, type DeadLetter, type DeadLetters } from "@cozebus/nats";
import type { ConsumerInfo, StreamInfo } from "@nats-io/jetstream";
import { findEvent } from "../catalog.js";
import { wantedStreams } from "../domains.js";
import type { SchemaSet } from "../schemas.js";
import { type ConsoleSource, type ConsumerRow, type ConsumersView, type DeadLetterStore, type Letter, type Outcome, type SchemaMatch, type StreamRow, type StreamsView, type Tail, type TailMessage } from "./source.js";
import { usageError } from "../errors.js";

const seconds = (ns: number): string => (ns === 0 ? "unlimited" : `${ns / 1e9}s`);
const limit = (n: number): string => (n < 0 ? "unlimited" : String(n));

/** cozebus names a durable `<group>_<hash of its filters>` and describes it "cozebus group <group> ..."; other tools' consumers are their own group. */
export function groupOf(c: ConsumerInfo): string {
  return /^cozebus group (\S+)/.exec(c.config.description ?? "")?.[1] ?? c.name;
}

/** Every stream with its consumers' infos, as the server reports them now. */
async function readStreams(bus: Bus): Promise<Array<{ info: StreamInfo; consumers: ConsumerInfo[] }>> {
  const js = await bus.jetstream();
  const out = [];
  for await (const info of js.jsm.streams.list()) {
    const consumers: ConsumerInfo[] = [];
    for await (const c of js.jsm.consumers.list(info.config.name)) consumers.push(c);
    out.push({ info, consumers });
  }
  return out.sort((a, b) => a.info.config.name.localeCompare(b.info.config.name));
}

/** Whether a stream still matches what these schemas want (the same check as `cozebus streams info`). */
function schemaMatch(info: StreamInfo, wanted: Map<string, Parameters<typeof compareStream>[1]>): SchemaMatch {
  const spec = wanted.get(info.config.name);
  if (spec === undefined) return { kind: "other", text: "not a cozebus stream" };
  const d = compareStream(info.config, spec);
  const differences = [...d.fixed, ...d.missingSubjects.map((x) => `subjects: + ${x}`), ...d.raise];
  return differences.length === 0 ? { kind: "matches" } : { kind: "differs", differences, fix: "cozebus streams apply" };
}

function streamRow(s: StreamInfo, consumers: number, wanted: Map<string, Parameters<typeof compareStream>[1]>): StreamRow {
  const c = s.config;
  return {
    name: c.name,
    subjects: c.subjects,
    schema: schemaMatch(s, wanted),
    messages: s.state.messages,
    bytes: s.state.bytes,
    depth: `${s.state.first_seq}..${s.state.last_seq}`,
    last: s.state.last_ts,
    consumers,
    limits: [
      `retention ${c.retention}, storage ${c.storage}, discard ${c.discard}`,
      `max age ${seconds(c.max_age)}, max msgs ${limit(c.max_msgs)}, max bytes ${limit(c.max_bytes)}`,
      `max msg size ${limit(c.max_msg_size ?? -1)}, duplicate window ${seconds(c.duplicate_window ?? 0)}, replicas ${c.num_replicas}`,
    ],
    cluster: s.cluster ? [`leader ${s.cluster.leader ?? "none"}`, ...(s.cluster.replicas ?? []).map((r) => `${r.name} ${r.current ? "current" : `behind ${r.lag ?? 0}`}`)] : undefined,
  };
}

function consumerRow(stream: string, c: ConsumerInfo): ConsumerRow {
  return {
    group: groupOf(c),
    container: stream,
    name: c.name,
    filter: c.config.filter_subject ?? c.config.filter_subjects?.join(", ") ?? ">",
    lag: c.num_pending,
    ackPending: c.num_ack_pending,
    redelivered: c.num_redelivered,
    waiting: c.num_waiting,
    delivered: c.delivered.stream_seq,
    ackWait: `${(c.config.ack_wait ?? 0) / 1e9}s`,
    maxDeliver: c.config.max_deliver ?? -1,
  };
}

function letterOf(d: DeadLetter, keptIn: string): Letter {
  return {
    id: String(d.seq),
    label: `#${d.seq}`,
    keptIn,
    time: d.time,
    reason: d.reason,
    deliveries: d.deliveries,
    eventType: d.eventType,
    eventId: d.eventId,
    subject: d.subject,
    origin: `${d.stream}#${d.sequence}`,
    originDetail: `stream ${d.stream}, seq ${d.sequence}`,
    consumer: d.consumer,
    error: d.error,
    data: d.data,
    headers: Object.fromEntries(d.headers.entries()),
  };
}

/** The COZE_DLQ stream through DeadLetters of @cozebus/nats; a dead letter is named by its sequence there. */
class NatsDeadLetters implements DeadLetterStore {
  readonly consumerNoun = "consumer";
  readonly idShape = "a dead letter's sequence (a positive integer)";

  constructor(
    private readonly dlq: DeadLetters,
  ) {}

  label(id: string): string {
    return `#${id}`;
  }

  get where(): string {
    return this.dlq.stream;
  }

  parseId(text: string): string | undefined {
    const n = Number(text);
    return /^\d+$/.test(text) && Number.isInteger(n) && n >= 1 ? String(n) : undefined;
  }

  async list(options: { readonly limit: number; readonly reason?: string | undefined }): Promise<Letter[]> {
    const found = await this.dlq.list({ limit: options.limit, ...(options.reason !== undefined ? { reason: options.reason as DeadLetter["reason"] } : {}) });
    return found.map((d) => letterOf(d, this.dlq.stream));
  }

  count(): Promise<number> {
    return this.dlq.count();
  }

  async get(id: string): Promise<Letter | undefined> {
    const d = await this.dlq.get(Number(id));
    return d === undefined ? undefined : letterOf(d, this.dlq.stream);
  }

  /** Removes a dead letter; one that is already gone (replayed or deleted by someone else) is not an error. */
  async #removeIfThere(seq: number): Promise<"deleted" | "gone"> {
    if ((await this.dlq.get(seq)) === undefined) return "gone";
    try {
      await this.dlq.remove(seq);
      return "deleted";
    } catch (err) {
      if ((await this.dlq.get(seq)) === undefined) return "gone"; // removed between the read and the delete
      throw err;
    }
  }

  /**
   * Replays one dead letter at most once. The publish carries
   * DeadLetters.replay's Nats-Msg-Id (`<ce-id>.replay.<dlq seq>`), so two
   * consoles replaying the same entry at once store one event (the second
   * gets a duplicate ack inside the stream's duplicate window).
   */
  async replay(id: string): Promise<Outcome> {
    const seq = Number(id);
    const label = `#${seq}`;
    if ((await this.dlq.get(seq)) === undefined) return { id, label, outcome: "gone" };
    const ack = await this.dlq.replay(seq, { remove: false });
    await this.#removeIfThere(seq);
    return { id, label, outcome: "replayed", to: ack.subject, detail: `stream ${ack.stream}, seq ${ack.seq}`, duplicate: ack.duplicate };
  }

  async remove(id: string): Promise<Outcome> {
    return { id, label: `#${id}`, outcome: await this.#removeIfThere(Number(id)) };
  }
}

/** The console on NATS: JetStream streams and durable consumers, the COZE_DLQ stream, a core NATS tail. */
export class NatsSource implements ConsoleSource {
  readonly streamsTitle = "Streams";
  readonly tailNote = "Core NATS, like cozebus sub: it sees what is published while it listens and takes nothing from any group.";
  readonly tailPlaceholder = "coze.workflow.> or workflow.nodeFailed";

  private constructor(
    private readonly bus: Bus,
    private readonly schemas: SchemaSet | undefined,
    readonly deadLetters: DeadLetterStore,
  ) {}

  static async open(bus: Bus, schemas: SchemaSet | undefined): Promise<NatsSource> {
    return new NatsSource(bus, schemas, new NatsDeadLetters((await bus.jetstream()).deadLetters));
  }

  get label(): string {
    const s = this.bus.server;
    return `nats-server ${s.version} ${s.name}${s.cluster !== undefined ? ` (cluster ${s.cluster})` : ""}`;
  }

  async streams(): Promise<StreamsView> {
    const streams = await readStreams(this.bus);
    const wanted = new Map((await wantedStreams(this.bus)).map((w) => [w.spec.name, w.spec]));
    return {
      titles: { name: "stream", subjects: "subjects", messages: "messages", bytes: "bytes", depth: "seq", last: "last", consumers: "consumers" },
      note: undefined,
      empty: "No streams on this server. cozebus streams apply provisions the domains' streams and the DLQ.",
      rows: streams.map(({ info, consumers }) => streamRow(info, consumers.length, wanted)),
      absent: [],
    };
  }

  async consumers(): Promise<ConsumersView> {
    const rows = (await readStreams(this.bus)).flatMap(({ info, consumers }) => consumers.map((c) => consumerRow(info.config.name, c)));
    return {
      titles: { container: "stream", name: "consumer", lag: "lag (pending)", waiting: "waiting pulls", delivered: "delivered seq" },
      note: "Lag is the events the group has not been given yet (num_pending); ack pending are given and not settled; redelivered were given more than once; waiting pulls are fetches parked on the server (0 while no instance is pulling).",
      empty: "No consumers yet: a service creates its group's durable consumer when it subscribes.",
      rows,
    };
  }

  async tail(ref: string, onMessage: (m: TailMessage) => void): Promise<Tail> {
    let pattern: string;
    try {
      const def = this.schemas?.eventDef(ref) ?? findEvent(ref)?.def;
      pattern = def !== undefined ? this.bus.pattern(def.subject) : checkSubscribePattern(ref);
    } catch (err) {
      throw usageError(isCozebusError(err) ? err.message : `not an event or subject pattern: ${(err as Error).message}`);
    }
    let sub;
    try {
      sub = await this.bus.subscribe(pattern, (m) => onMessage(m));
    } catch (err) {
      // A refused subscription (permissions) or a closed connection.
      throw new Error(`cannot tail ${pattern}: ${(err as Error).message}`, { cause: err });
    }
    return {
      listening: pattern,
      stop: () => {
        sub.unsubscribe();
        return Promise.resolve();
      },
    };
  }

  close(): Promise<void> {
    return this.bus.drain().catch(() => undefined);
  }
}
