import type { Bus } from "../connection/bus.js";
import type { EnsureResult, StreamLimits, StreamSpec } from "../jetstream/streams.js";
import type { InboundMessage } from "../messaging/inbound.js";
import { FEATURES } from "../connection/server-info.js";
import { FeatureUnavailableError, StreamConfigError, SubjectError, UnknownEventError } from "../errors.js";
import type { DomainDef, EventDef, MessageOf } from "@cozebus/core";
import {
  EventClient,
  consumeDurable,
  contextOf,
  decodeEvent,
  deliveryOf,
  type EventContext,
  type EventSubscribeOptions,
  type EventSubscription,
} from "./event-client.js";
import { OperationClient } from "./operation-client.js";

/** The names of a domain's events (`executionStarted`, ...). */
export type EventName<D extends DomainDef> = keyof D["events"] & string;

/** One event of a domain (or of the names K), discriminated by `type` (the event's name in the client). */
export type DomainEvent<D extends DomainDef, K extends EventName<D> = EventName<D>> = {
  [N in K]: { readonly type: N; readonly event: MessageOf<D["events"][N]["codec"]>; readonly ctx: EventContext };
}[K];

export interface SubscribeAllOptions<K extends string = string> extends Omit<EventSubscribeOptions, "filter"> {
  /**
   * Only these events (default: every event of the domain). JetStream events
   * of the set share one durable consumer with `filter_subjects` on
   * nats-server 2.10+; older servers get one consumer per event (the same
   * events, but no order between events of different types).
   */
  readonly events?: readonly K[];
}

export type DomainClient<D extends DomainDef> = {
  readonly [K in keyof D["events"]]: EventClient<D["events"][K]>;
} & {
  readonly [K in keyof D["operations"]]: OperationClient<D["operations"][K]>;
} & {
  /** The domain's name. */
  readonly domain: string;
  /**
   * Subscribes to every event of the domain with one handler; narrow on
   * `e.type`. Core events arrive through core subscriptions, JetStream
   * events through one durable consumer of the domain's stream.
   */
  subscribeAll<K extends EventName<D> = EventName<D>>(handler: (e: DomainEvent<D, K>) => void | Promise<void>, options: SubscribeAllOptions<K>): Promise<EventSubscription>;
  /**
   * The streams this domain needs on this bus: its own over exactly the
   * subjects of its at-least-once events (never its request/reply subjects),
   * when it has any, and the dead-letter stream. This is the one place a
   * domain's stream spec is made; `provision`, `cozebus streams` and
   * `doctor` all use it.
   */
  streams(limits?: Partial<StreamLimits>, features?: StreamFeatures): Promise<StreamSpec[]>;
  /**
   * Creates the domain's stream and the dead-letter stream, or provisions
   * them additively: adds the subjects this build publishes on and never
   * removes one another build may still publish on, never lowers a limit.
   * Differences kept are in each result's `conflicts`; `cozebus streams
   * prune` removes what no build needs. Records this build in the streams'
   * metadata (nats-server 2.10+).
   */
  provision(limits?: Partial<StreamLimits>, features?: StreamFeatures): Promise<EnsureResult[]>;
};

/** Stream features a domain opts into. Per-message TTL and atomic batches are on wherever the server has them. */
export interface StreamFeatures {
  /**
   * Delayed publishes (`publish(e, { deliverAt })`, nats-server 2.12+
   * message schedules). The server allows schedules only on a stream that
   * discards its oldest events when full, so this needs `discard: "old"` in
   * the limits — off by default, because a full stream should refuse new
   * events loudly rather than drop old ones.
   */
  readonly schedules?: boolean;
}

export interface DomainClientOptions {
  /** `<package>@<version>` of the build, recorded in the streams it provisions (the generated packages set it). */
  readonly build?: string;
}

/** Typed publishers, subscribers and operations for one generated domain. */
export function domainClient<const D extends DomainDef>(bus: Bus, def: D, options: DomainClientOptions = {}): DomainClient<D> {
  const client: Record<string, unknown> = { domain: def.name };
  const events = Object.entries(def.events).map(([name, e]) => [name, new EventClient(bus, def.name, e)] as const);
  for (const [name, c] of events) client[name] = c;
  const operations = Object.entries(def.operations).map(([name, o]) => [name, new OperationClient(bus, o)] as const);
  for (const [name, o] of operations) client[name] = o;

  const streams = async (limits?: Partial<StreamLimits>, features: StreamFeatures = {}): Promise<StreamSpec[]> => {
    const js = await bus.jetstream();
    const subjects = events.filter(([, c]) => c.delivery === "jetstream").map(([, c]) => bus.pattern(c.template));
    const requests = operations.map(([, o]) => bus.pattern(o.template));
    const specs: StreamSpec[] = [];
    // Newer servers' per-event features, switched on where the server has them (never off again: additive).
    if (features.schedules === true) {
      if (!bus.server.supports("msg-schedules")) throw new FeatureUnavailableError("msg-schedules", `delayed publishes need nats-server ${FEATURES["msg-schedules"].since} or later; this server is ${bus.server.version}`);
      if (limits?.discard !== "old") throw new StreamConfigError(js.domainStreamName(def.name), 'message schedules need discard "old" (a nats-server rule): provision(limits with discard: "old", { schedules: true }), knowing a full stream then drops its oldest events');
    }
    const allow = { msgTtl: bus.server.supports("msg-ttl"), schedules: features.schedules === true, atomic: bus.server.supports("atomic-batch") };
    if (allow.schedules && subjects.length > 0) subjects.push(js.scheduleSubjects(def.name));
    if (subjects.length > 0) specs.push(js.domainStream(def.name, subjects, limits, requests, allow));
    specs.push(js.deadLetterStream());
    return specs;
  };
  client["streams"] = streams;
  client["provision"] = async (limits?: Partial<StreamLimits>, features?: StreamFeatures): Promise<EnsureResult[]> => {
    const js = await bus.jetstream();
    const results: EnsureResult[] = [];
    for (const spec of await streams(limits, features)) results.push(await js.ensureStream(spec, options.build !== undefined ? { build: options.build } : {}));
    return results;
  };

  client["subscribeAll"] = async (handler: (e: DomainEvent<D>) => void | Promise<void>, options: SubscribeAllOptions): Promise<EventSubscription> => {
    const unknown = (options.events ?? []).filter((n) => !events.some(([name]) => name === n));
    if (unknown.length > 0) throw new SubjectError(`subscribeAll: ${unknown.join(", ")} ${unknown.length === 1 ? "is not an event" : "are not events"} of ${def.name} (events: ${events.map(([n]) => n).join(", ")})`, unknown[0]);
    const chosen = options.events === undefined ? events : events.filter(([name]) => options.events!.includes(name));
    const byType = new Map(chosen.map(([name, c]) => [c.def.type, { name, c }]));
    const known = `${options.events === undefined ? `${def.name} events of this build` : "the events of this subscription"}: ${chosen.map(([name]) => name).join(", ")}`;
    // ce-type names the event; a publisher that sends none (not cozebus) is matched by subject.
    const entryOf = (m: InboundMessage): { name: string; c: EventClient<EventDef> } | undefined => {
      const type = m.event?.type;
      if (type !== undefined) return byType.get(type);
      return chosen.map(([name, c]) => ({ name, c })).find(({ c }) => c.template.match(m.subject, bus.prefix) !== undefined);
    };
    const dispatch = (m: InboundMessage, attempt: number): void | Promise<void> => {
      const entry = entryOf(m);
      // Never acked away: an event this build cannot name is handed back, then dead-lettered (JetStream), or reported (core).
      if (entry === undefined) throw new UnknownEventError(m.subject, m.event?.type, known);
      const event = decodeEvent(entry.c.def, m);
      return handler({ type: entry.name, event, ctx: contextOf(m, entry.c.template, bus.prefix, attempt, entry.c.def.type) } as DomainEvent<D>);
    };
    const stops: Array<() => Promise<void>> = [];
    for (const [, c] of chosen.filter(([, c]) => deliveryOf(bus, c.def) === "core")) {
      const sub = await bus.subscribe(bus.pattern(c.template), (m) => dispatch(m, 1), {
        queue: options.group,
        ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
      });
      stops.push(() => sub.drain());
    }
    const durable = chosen.filter(([, c]) => deliveryOf(bus, c.def) === "jetstream").map(([, c]) => bus.pattern(c.template));
    if (durable.length > 0) {
      const js = await bus.jetstream();
      const stream = js.domainStreamName(def.name);
      // The whole domain: one durable over the whole stream, shared by every build of the group. A filter
      // of this build's subjects would make builds with different event sets keep rewriting it, and events
      // arriving while an older build's filter is in place would pass the group by unhandled.
      // A chosen set: one consumer with filter_subjects where the server has them, else one per event.
      const filters: Array<string | readonly string[] | undefined> =
        options.events === undefined ? [undefined] : durable.length === 1 ? [durable[0]] : bus.server.supports("multi-filter") ? [durable] : durable;
      for (const filter of filters) {
        const consumer = await consumeDurable(js, { stream, group: options.group, ...(filter !== undefined ? { filter } : {}) }, (m) => dispatch(m, m.delivery.attempt), options);
        stops.push(() => consumer.stop());
      }
    }
    return { stop: async () => void (await Promise.all(stops.map((s) => s()))) };
  };
  return client as DomainClient<D>;
}
