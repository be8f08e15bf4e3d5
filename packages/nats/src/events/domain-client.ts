import type { Bus } from "../connection/bus.js";
import type { EnsureResult, StreamLimits, StreamSpec } from "../jetstream/streams.js";
import type { InboundMessage } from "../messaging/inbound.js";
import type { DomainDef, MessageOf } from "./define.js";
import {
  EventClient,
  contextOf,
  decodeEvent,
  deliveryOf,
  type EventContext,
  type EventSubscribeOptions,
  type EventSubscription,
} from "./event-client.js";
import { OperationClient } from "./operation-client.js";

/** One event of a domain, discriminated by `type` (the event's name in the client). */
export type DomainEvent<D extends DomainDef> = {
  [K in keyof D["events"] & string]: { readonly type: K; readonly event: MessageOf<D["events"][K]["codec"]>; readonly ctx: EventContext };
}[keyof D["events"] & string];

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
  subscribeAll(handler: (e: DomainEvent<D>) => void | Promise<void>, options: Omit<EventSubscribeOptions, "filter">): Promise<EventSubscription>;
  /** The streams this domain needs on this bus: its own (JetStream events only, when it has any) and the dead-letter stream. */
  streams(limits?: Partial<StreamLimits>): Promise<StreamSpec[]>;
  /** Creates or reconciles the domain's stream (JetStream events only) and the dead-letter stream. */
  provision(limits?: Partial<StreamLimits>): Promise<EnsureResult[]>;
};

/** Typed publishers, subscribers and operations for one generated domain. */
export function domainClient<const D extends DomainDef>(bus: Bus, def: D): DomainClient<D> {
  const client: Record<string, unknown> = { domain: def.name };
  const events = Object.entries(def.events).map(([name, e]) => [name, new EventClient(bus, def.name, e)] as const);
  for (const [name, c] of events) client[name] = c;
  for (const [name, o] of Object.entries(def.operations)) client[name] = new OperationClient(bus, o);

  const streams = async (limits?: Partial<StreamLimits>): Promise<StreamSpec[]> => {
    const js = await bus.jetstream();
    // The stream captures the JetStream events' subjects only, never request/reply subjects:
    // a stream on a request subject would answer the request with its publish ack.
    const subjects = events.filter(([, c]) => c.delivery === "jetstream").map(([, c]) => bus.pattern(c.template));
    const specs: StreamSpec[] = [];
    if (subjects.length > 0) specs.push({ ...js.domainStream(def.name, limits), subjects });
    specs.push(js.deadLetterStream());
    return specs;
  };
  client["streams"] = streams;
  client["provision"] = async (limits?: Partial<StreamLimits>): Promise<EnsureResult[]> => {
    const js = await bus.jetstream();
    const results: EnsureResult[] = [];
    for (const spec of await streams(limits)) results.push(await js.ensureStream(spec));
    return results;
  };

  client["subscribeAll"] = async (
    handler: (e: DomainEvent<D>) => void | Promise<void>,
    options: Omit<EventSubscribeOptions, "filter">,
  ): Promise<EventSubscription> => {
    const byType = new Map(events.map(([name, c]) => [c.def.type, { name, c }]));
    const dispatch = (m: InboundMessage, attempt: number): void | Promise<void> => {
      const entry = byType.get(m.event?.type ?? "") ?? events.map(([name, c]) => ({ name, c })).find(({ c }) => c.template.match(m.subject, bus.prefix));
      if (entry === undefined) return; // not an event of this domain (cannot happen with the patterns below)
      const event = decodeEvent(entry.c.def, m);
      return handler({ type: entry.name, event, ctx: contextOf(m, entry.c.template, bus.prefix, attempt, entry.c.def.type) } as DomainEvent<D>);
    };
    const stops: Array<() => Promise<void>> = [];
    for (const [, c] of events.filter(([, c]) => deliveryOf(bus, c.def) === "core")) {
      const sub = await bus.subscribe(bus.pattern(c.template), (m) => dispatch(m, 1), {
        queue: options.group,
        ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
      });
      stops.push(() => sub.drain());
    }
    if (events.some(([, c]) => deliveryOf(bus, c.def) === "jetstream")) {
      const js = await bus.jetstream();
      const consumer = await js.consume({ stream: js.domainStream(def.name).name, group: options.group }, (m) => dispatch(m, m.delivery.attempt), {
        ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
        ...(options.retry !== undefined ? { retry: options.retry } : {}),
        ...(options.orderBy !== undefined ? { orderBy: options.orderBy } : {}),
      });
      stops.push(() => consumer.stop());
    }
    return { stop: async () => void (await Promise.all(stops.map((s) => s()))) };
  };
  return client as DomainClient<D>;
}
