import { SubjectError, UnknownEventError } from "../errors.js";
import type { Delivery, DomainPlan, EventSelector, ProvisionOptions, ProvisionResult, QualityOfService, Transport, TransportLike } from "../port/transport.js";
import { transportOf } from "../port/transport.js";
import { retryPolicy } from "../policy/retry-policy.js";
import { contextOf, decodeEvent, type EventContext } from "./context.js";
import type { DomainDef, EventDef, MessageOf } from "./define.js";
import { EventClient, checkSubscribeOptions, type EventSubscribeOptions, type EventSubscription } from "./event-client.js";
import { OperationClient } from "./operation-client.js";
import { handlerFor } from "./settle.js";

/** The names of a domain's events (`executionStarted`, ...). */
export type EventName<D extends DomainDef> = keyof D["events"] & string;

/** One event of a domain (or of the names K), discriminated by `type` (the event's name in the client). */
export type DomainEvent<D extends DomainDef, K extends EventName<D> = EventName<D>> = {
  [N in K]: { readonly type: N; readonly event: MessageOf<D["events"][N]["codec"]>; readonly ctx: EventContext };
}[K];

export interface SubscribeAllOptions<K extends string = string> extends Omit<EventSubscribeOptions, "filter"> {
  /**
   * Only these events (default: every event of the domain, including ones a
   * newer build adds: those are never acked away, see `subscribeAll`).
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
  /** The transport this client runs on. */
  readonly transport: Transport;
  /**
   * Subscribes to every event of the domain with one handler; narrow on
   * `e.type`. At-least-once events of the whole domain share one durable
   * subscription of the group; an event this build cannot name is never
   * acked: it is handed back, then dead-lettered as "unknown-event".
   */
  subscribeAll<K extends EventName<D> = EventName<D>>(handler: (e: DomainEvent<D, K>) => void | Promise<void>, options: SubscribeAllOptions<K>): Promise<EventSubscription>;
  /**
   * Creates what the domain needs on the broker (NATS: its stream over
   * exactly its at-least-once subjects, and the dead-letter stream; Pulsar:
   * its topics and dead-letter topic), additively: never removes what
   * another build may still publish on, never lowers a limit. Differences
   * kept are in each result's `conflicts`.
   */
  provision(options?: ProvisionOptions): Promise<ProvisionResult[]>;
  /** What `provision` asks of the transport (for operators' tools: `cozebus streams`, `doctor`). */
  plan(options?: ProvisionOptions): DomainPlan;
};

export interface DomainClientOptions {
  /** `<package>@<version>` of the build, recorded where the transport can (the generated packages set it). */
  readonly build?: string;
}

/** Typed publishers, subscribers and operations for one generated domain. */
export function domainClient<const D extends DomainDef>(on: TransportLike, def: D, options: DomainClientOptions = {}): DomainClient<D> {
  const transport = transportOf(on);
  const client: Record<string, unknown> = { domain: def.name, transport };
  const events = Object.entries(def.events).map(([name, e]) => [name, new EventClient(transport, def.name, e)] as const);
  for (const [name, c] of events) client[name] = c;
  const operations = Object.entries(def.operations).map(([name, o]) => [name, new OperationClient(transport, def.name, o)] as const);
  for (const [name, o] of operations) client[name] = o;

  const plan = (opts: ProvisionOptions = {}): DomainPlan => ({
    domain: def.name,
    events: events.map(([, c]) => ({ template: c.template, qos: c.qos, type: c.def.type })),
    operations: operations.map(([, o]) => o.template),
    ...(options.build !== undefined ? { build: options.build } : {}),
    ...opts,
  });
  client["plan"] = plan;
  client["provision"] = (opts?: ProvisionOptions): Promise<ProvisionResult[]> => transport.provision(plan(opts));

  client["subscribeAll"] = async (handler: (e: DomainEvent<D>) => void | Promise<void>, opts: SubscribeAllOptions): Promise<EventSubscription> => {
    const unknown = (opts.events ?? []).filter((n) => !events.some(([name]) => name === n));
    if (unknown.length > 0) throw new SubjectError(`subscribeAll: ${unknown.join(", ")} ${unknown.length === 1 ? "is not an event" : "are not events"} of ${def.name} (events: ${events.map(([n]) => n).join(", ")})`, unknown[0]);
    const chosen = opts.events === undefined ? events : events.filter(([name]) => opts.events!.includes(name));
    const byType = new Map(chosen.map(([name, c]) => [c.def.type, { name, c }]));
    const known = `${opts.events === undefined ? `${def.name} events of this build` : "the events of this subscription"}: ${chosen.map(([name]) => name).join(", ")}`;
    const root = transport.subjectRoot;
    // ce-type names the event; a publisher that sends none (not cozebus) is matched by subject.
    const entryOf = (d: Delivery): { name: string; c: EventClient<EventDef> } | undefined => {
      const type = d.event?.type;
      if (type !== undefined) return byType.get(type);
      return chosen.map(([name, c]) => ({ name, c })).find(({ c }) => c.template.match(d.subject, root) !== undefined);
    };
    const dispatch = (d: Delivery): void | Promise<void> => {
      const entry = entryOf(d);
      // Never acked away: an event this build cannot name is handed back, then dead-lettered (at least once), or reported (at most once).
      if (entry === undefined) throw new UnknownEventError(d.subject, d.event?.type, known);
      const event = decodeEvent(entry.c.def, d);
      return handler({ type: entry.name, event, ctx: contextOf(d, entry.c.template, root, entry.c.def.type) } as DomainEvent<D>);
    };
    const report = opts.onError ?? ((e: Error) => transport.report(e));
    const policy = retryPolicy(opts.retry);
    const stops: Array<() => Promise<void>> = [];
    try {
      for (const qos of ["at-most-once", "at-least-once"] as const satisfies readonly QualityOfService[]) {
        const of = chosen.filter(([, c]) => c.qos === qos);
        if (of.length === 0) continue;
        checkSubscribeOptions(transport, qos, `${def.name}.subscribeAll`, opts);
        // The whole domain, durably: one subscription over everything the domain stores, shared by every
        // build of the group. A list of this build's events would make builds with different event sets
        // keep rewriting it, and events a newer build adds would pass the group by unhandled.
        const selectors: readonly EventSelector[] | "domain" = qos === "at-least-once" && opts.events === undefined ? "domain" : of.map(([, c]) => ({ template: c.template }));
        const sub = await transport.subscribe(
          {
            domain: def.name,
            group: opts.group,
            qos,
            events: selectors,
            ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
            ...(opts.orderBy !== undefined ? { orderBy: opts.orderBy } : {}),
            ...(qos === "at-least-once" ? { maxDeliveries: policy.maxDeliveries, ackWaitMs: policy.ackWaitMs } : {}),
            onError: report,
          },
          handlerFor(dispatch, qos, policy, report, opts),
        );
        stops.push(() => sub.stop());
      }
    } catch (err) {
      await Promise.all(stops.map((s) => s()));
      throw err;
    }
    return { stop: async () => void (await Promise.all(stops.map((s) => s()))) };
  };
  return client as DomainClient<D>;
}
