import { randomBytes } from "node:crypto";
import { SubjectTemplate, type EventDef } from "@cozebus/core";
import type { EventSelector } from "@cozebus/core/transport";
import { DeadLetters, type DeadLetter, type PulsarTransport, type TopicStats } from "@cozebus/pulsar";
import { catalog, findEvent } from "../catalog.js";
import { DOMAINS } from "../domains.js";
import type { SchemaSet } from "../schemas.js";
import { SCAN_LIMIT } from "./dlq-data.js";
import { missing, type ConsoleSource, type ConsumerRow, type ConsumersView, type DeadLetterStore, type Letter, type Outcome, type StreamRow, type StreamsView, type Tail, type TailMessage } from "./source.js";
import { usageError } from "../errors.js";

/** `<domain>/<ledger:entry>`: a Pulsar message id is unique on its topic only, and each domain has its own dead-letter topic. */
const ID = /^([A-Za-z0-9_-]+)\/(\d+:\d+(?::-?\d+){0,2})$/;

/** Each domain's dead-letter topic `<root>.<domain>-DLQ`, through DeadLetters of @cozebus/pulsar. */
class PulsarDeadLetters implements DeadLetterStore {
  readonly consumerNoun = "subscription";
  readonly idShape = "<domain>/<ledger:entry>, as the list names it (e.g. workflow/123:4)";
  readonly #byDomain: ReadonlyMap<string, DeadLetters>;

  constructor(transport: PulsarTransport, domains: readonly string[]) {
    this.#byDomain = new Map(domains.map((d) => [d, new DeadLetters(transport, d)]));
    const { root } = transport.names;
    this.where = `the dead-letter topics ${root}.<domain>-DLQ`;
  }

  readonly where: string;

  label(id: string): string {
    return id;
  }

  parseId(text: string): string | undefined {
    const m = ID.exec(text);
    return m !== null && this.#byDomain.has(m[1]!) ? text : undefined;
  }

  #letter(domain: string, d: DeadLetter): Letter {
    const id = `${domain}/${d.id}`;
    const dlq = this.#byDomain.get(domain)!;
    return {
      id,
      label: id,
      keptIn: dlq.topic.slice(dlq.topic.lastIndexOf("/") + 1),
      time: d.time,
      reason: d.reason,
      deliveries: d.deliveries,
      eventType: d.type,
      eventId: d.eventId,
      subject: d.subject,
      origin: d.topic ?? "?",
      originDetail: `topic ${d.topic ?? "? (not said)"}`,
      consumer: d.subscription,
      error: d.error,
      data: d.data,
      headers: d.properties,
    };
  }

  async list(options: { readonly limit: number; readonly reason?: string | undefined }): Promise<Letter[]> {
    const out: Letter[] = [];
    for (const [domain, dlq] of this.#byDomain) {
      if (out.length >= options.limit) break;
      if (!((await dlq.count()) ?? 0)) continue; // not provisioned, or empty: no peek needed
      const found = await dlq.list({ limit: options.limit - out.length });
      out.push(...found.filter((d) => options.reason === undefined || d.reason === options.reason).map((d) => this.#letter(domain, d)));
    }
    return out;
  }

  async count(): Promise<number> {
    let n = 0;
    for (const dlq of this.#byDomain.values()) n += (await dlq.count()) ?? 0;
    return n;
  }

  #split(id: string): { domain: string; dlq: DeadLetters; entry: string } {
    const m = ID.exec(id)!;
    return { domain: m[1]!, dlq: this.#byDomain.get(m[1]!)!, entry: m[2]! };
  }

  /** Peeks the domain's dead letters (one REST call each) until it finds this one, among the first SCAN_LIMIT. */
  async get(id: string): Promise<Letter | undefined> {
    const { domain, dlq, entry } = this.#split(id);
    if (!((await dlq.count()) ?? 0)) return undefined;
    const d = (await dlq.list({ limit: SCAN_LIMIT })).find((x) => x.id === entry);
    return d === undefined ? undefined : this.#letter(domain, d);
  }

  async replay(id: string): Promise<Outcome> {
    const letter = await this.get(id);
    if (letter === undefined) return { id, label: id, outcome: "gone" };
    const { dlq, entry } = this.#split(id);
    const r = await dlq.replay(entry);
    if (r.replayed.includes(entry)) return { id, label: id, outcome: "replayed", to: letter.subject ?? letter.origin, detail: letter.originDetail, duplicate: false };
    const failed = r.failed.find((f) => f.id === entry);
    if (failed !== undefined) return { id, label: id, outcome: "failed", error: failed.error };
    return { id, label: id, outcome: "gone" }; // taken by another console between the peek and the replay
  }

  async remove(id: string): Promise<Outcome> {
    if ((await this.get(id)) === undefined) return { id, label: id, outcome: "gone" };
    const { dlq, entry } = this.#split(id);
    const r = await dlq.remove(entry);
    return { id, label: id, outcome: r.removed.includes(entry) ? "deleted" : "gone" };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#byDomain.values()].map((d) => d.close()));
  }
}

/** What the catalogue (and --schemas) says a topic carries: the event, or a domain's dead letters. */
interface TopicMeaning {
  readonly subjects: readonly string[];
  readonly carries: string;
  readonly dlqOf?: string;
}

const domainOf = (def: EventDef): string => def.subject.split(".")[1] ?? "";

/**
 * The console on Pulsar: the namespace's topics and their subscriptions
 * from the admin REST API's topic stats, the domains' dead-letter topics,
 * and a tail through a subscription of its own that starts at the newest
 * event and is removed when the tail ends.
 */
export class PulsarSource implements ConsoleSource {
  readonly streamsTitle = "Topics";
  readonly tailNote =
    "Pulsar, like cozebus sub: a subscription of the console's own (cozebus-console-…), created at the newest event and removed when the tail ends, so it takes nothing from any group. It takes an event or a whole domain (coze.<domain>.> or <domain>): Pulsar has a topic per event and no subject wildcards.";
  readonly tailPlaceholder = "workflow.nodeFailed or coze.workflow.>";
  readonly deadLetters: PulsarDeadLetters;
  readonly #domains: readonly string[];

  constructor(
    private readonly transport: PulsarTransport,
    private readonly schemas: SchemaSet | undefined,
  ) {
    const extra = (schemas?.events() ?? []).map((e) => domainOf(e.def));
    this.#domains = [...new Set([...DOMAINS.map((d) => d.def.name), ...extra])].filter((d) => d !== "");
    this.deadLetters = new PulsarDeadLetters(transport, this.#domains);
  }

  get label(): string {
    const n = this.transport.names;
    return `pulsar ${this.transport.admin.rest.baseUrl} (namespace ${n.tenant}/${n.namespace})`;
  }

  #topicOf(def: EventDef): string {
    return this.transport.topicOf({ address: { domain: domainOf(def), template: SubjectTemplate.parse(def.subject), fields: {} } });
  }

  /** Full topic name to what the schemas put there. */
  #meanings(): Map<string, TopicMeaning> {
    const m = new Map<string, TopicMeaning>();
    const defs = [...catalog.events.map((e) => e.def), ...(this.schemas?.events() ?? []).map((e) => e.def)];
    for (const def of defs) {
      const topic = this.#topicOf(def);
      const prev = m.get(topic);
      m.set(topic, { subjects: [...new Set([...(prev?.subjects ?? []), def.subject])], carries: prev !== undefined && prev.carries !== def.type ? `${prev.carries}, ${def.type}` : def.type });
    }
    for (const d of this.#domains) m.set(this.transport.deadLetterTopic(d), { subjects: [], carries: `dead letters of domain ${d}`, dlqOf: d });
    return m;
  }

  async #topics(): Promise<Array<{ topic: string; local: string; stats: TopicStats }>> {
    const { tenant, namespace } = this.transport.names;
    const prefix = `persistent://${tenant}/${namespace}/`;
    const names = (await this.transport.admin.topics(tenant, namespace)).sort();
    const out = [];
    for (const topic of names) {
      const stats = await this.transport.admin.topicStats(topic);
      if (stats !== undefined) out.push({ topic, local: topic.slice(prefix.length), stats }); // deleted between the list and the stats
    }
    return out;
  }

  async streams(): Promise<StreamsView> {
    const { tenant, namespace } = this.transport.names;
    const [topics, retention, ttl, clusters] = await Promise.all([this.#topics(), this.transport.admin.retention(tenant, namespace), this.transport.admin.messageTtl(tenant, namespace), this.transport.admin.clusters()]);
    const meanings = this.#meanings();
    const here = new Set(topics.map((t) => t.topic));
    const keep = retention === undefined ? "the broker's default" : `${retention.retentionTimeInMinutes < 0 ? "unlimited" : `${retention.retentionTimeInMinutes} min`} / ${retention.retentionSizeInMB < 0 ? "unlimited" : `${retention.retentionSizeInMB} MB`}`;
    const rows = topics.map(({ topic, local, stats }): StreamRow => {
      const meaning = meanings.get(topic);
      const subs = Object.values(stats.subscriptions);
      return {
        name: local,
        subjects: meaning?.subjects ?? [],
        schema: meaning === undefined ? { kind: "other", text: "not a cozebus topic" } : meaning.dlqOf !== undefined ? { kind: "other", text: meaning.carries } : { kind: "matches", text: meaning.carries },
        messages: stats.msgInCounter,
        bytes: stats.storageSize,
        depth: subs.length === 0 ? missing("no subscription") : Math.max(...subs.map((s) => s.msgBacklog)),
        last: missing("not in Pulsar's stats"),
        consumers: subs.length,
        limits: [`backlog ${stats.backlogSize} B`, `publishers ${stats.publishers}`],
        cluster: [`cluster ${clusters.join(", ") || "?"}`],
      };
    });
    return {
      titles: { name: "topic", subjects: "subject templates", messages: "published (since loaded)", bytes: "stored bytes", depth: "backlog (largest subscription)", last: "last", consumers: "subscriptions" },
      note: `Every topic of namespace ${tenant}/${namespace}, from the broker's topic stats. Limits are the namespace's, for every topic: retention of acked messages ${keep}, message TTL ${ttl === undefined ? "none" : `${ttl}s`}. Published counts since the broker last loaded the topic; the backlog is what its most-behind subscription has not acked (with no subscription, Pulsar keeps nothing for anyone).`,
      empty: `No topics in namespace ${tenant}/${namespace}. cozebus provision (COZE_MQ_TYPE=pulsar) creates the domains' topics and dead-letter topics.`,
      rows,
      absent: [...meanings.keys()].filter((t) => !here.has(t)).map((t) => t.slice(`persistent://${tenant}/${namespace}/`.length)).sort(),
    };
  }

  async consumers(): Promise<ConsumersView> {
    const rows: ConsumerRow[] = (await this.#topics()).flatMap(({ local, stats }) =>
      Object.entries(stats.subscriptions).map(([name, s]): ConsumerRow => ({
        group: name,
        container: local,
        name,
        filter: missing(`the whole topic (a ${s.type === "None" ? "" : `${s.type} `}subscription has no filter)`),
        lag: s.msgBacklog,
        ackPending: s.unackedMessages,
        redelivered: missing(`no count, ${s.msgRateRedeliver}/s now`),
        waiting: `${s.consumers} (${s.availablePermits} permits)`,
        delivered: missing("no sequence (ids are ledger:entry)"),
        ackWait: missing("per consumer, not in the stats"),
        maxDeliver: missing("per consumer (maxRedeliverCount)"),
      })),
    );
    return {
      titles: { container: "topic", name: "subscription", lag: "backlog (msgBacklog)", waiting: "consumers (permits)", delivered: "delivered seq" },
      note: "A group is a subscription, one per topic it reads. The backlog (msgBacklog) is every event the subscription has not acked, those handed out included; ack pending (unackedMessages) are handed to a consumer and not settled; consumers are the connected ones, with the messages they are ready to take (permits). Fields Pulsar does not report say n/a.",
      empty: "No subscriptions yet: a service creates its group's subscriptions when it subscribes (cozebus provision creates the dead letters' cozebus-dlq).",
      rows,
    };
  }

  /** The topics and selector an event or domain reference means, or why not. */
  async #resolve(ref: string): Promise<{ domain: string; events: readonly EventSelector[] | "domain"; topics: string[]; listening: string }> {
    const def = this.schemas?.eventDef(ref) ?? findEvent(ref)?.def;
    if (def !== undefined) {
      const topic = this.#topicOf(def);
      return { domain: domainOf(def), events: [{ template: SubjectTemplate.parse(def.subject) }], topics: [topic], listening: topic };
    }
    const root = this.transport.subjectRoot;
    const m = new RegExp(`^(?:${root.replace(/\./g, "\\.")}\\.)?([A-Za-z0-9_-]+)(?:\\.>)?$`).exec(ref);
    if (m === null || (!ref.includes(".") && !this.#domains.includes(m[1]!)) || (ref.includes(".") && !ref.endsWith(".>"))) {
      throw usageError(`on Pulsar the tail takes an event (as the catalogue names it) or a whole domain (${root}.<domain>.> or <domain>), not ${JSON.stringify(ref)}: Pulsar has a topic per event type and no subject wildcards`);
    }
    const domain = m[1]!;
    const { tenant, namespace } = this.transport.names;
    const prefix = `persistent://${tenant}/${namespace}/${root}.${domain}.`;
    const topics = (await this.transport.admin.topics(tenant, namespace)).filter((t) => t.startsWith(prefix));
    return { domain, events: "domain", topics, listening: `every topic of domain ${domain} (${tenant}/${namespace}/${root}.${domain}.*)` };
  }

  async tail(ref: string, onMessage: (m: TailMessage) => void): Promise<Tail> {
    const { domain, events, topics, listening } = await this.#resolve(ref);
    const name = `cozebus-console-${randomBytes(4).toString("hex")}`;
    const admin = this.transport.admin;
    // Created at the newest event first: the transport creates a missing subscription at the oldest kept one, and a tail shows what is published while it listens.
    for (const topic of topics) {
      await admin.createTopic(topic);
      await admin.createSubscription(topic, name, "latest");
    }
    const remove = async (): Promise<void> => {
      const { tenant, namespace, root } = this.transport.names;
      const all = events === "domain" ? (await admin.topics(tenant, namespace).catch(() => [] as string[])).filter((t) => t.startsWith(`persistent://${tenant}/${namespace}/${root}.${domain}.`)) : topics;
      for (const topic of all) {
        await admin.deleteSubscription(topic, name).catch((err: unknown) => process.stderr.write(`cozebus console: could not remove the tail's subscription ${name} from ${topic} (${(err as Error).message}); remove it with pulsar-admin topics unsubscribe\n`));
      }
    };
    let sub;
    try {
      sub = await this.transport.subscribe({ domain, group: name, qos: "at-least-once", events, concurrency: 1, onError: (e) => this.transport.report(e) }, (d) => {
        onMessage(d);
        return Promise.resolve({ type: "ack" });
      });
    } catch (err) {
      await remove();
      throw new Error(`cannot tail ${listening}: ${(err as Error).message}`, { cause: err });
    }
    return {
      listening: `${listening} (subscription ${name}, removed when the tail ends)`,
      stop: async () => {
        await sub.stop().catch(() => undefined);
        await remove();
      },
    };
  }

  async close(): Promise<void> {
    await this.deadLetters.close();
    await this.transport.drain().catch(() => undefined);
  }
}
