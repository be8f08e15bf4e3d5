/**
 * Runs the shared conformance suite from @cozebus/testing against both
 * delivery modes of this transport, on real servers.
 */
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import { runConformanceSuite, type ConformanceMessage, type ConformanceTransport } from "@cozebus/testing/conformance";
import type { ConformanceSubscribeOptions, TypedBuild, TypedDelivery } from "@cozebus/testing/conformance";
import {
  DrainTimeoutError,
  NonRetryableError,
  domainClient,
  openBus,
  type Bus,
  type DeadLetterReason,
  type DomainClient,
  type DomainDef,
  EventClient,
  type EventContext,
  type EventDef,
  type EventSubscribeOptions,
  type InboundMessage,
} from "../src/index.js";
import { memoryLogger, provisionRaw } from "./helpers.js";
import { testDomain, type Payload } from "./typed-domain.js";

const TYPE = "cozebus.conformance.v1.Event";
const ROOT = "coze.conf";

function adapt(m: InboundMessage, attempt: number): ConformanceMessage {
  return { subject: m.subject, data: m.data, id: m.event?.id ?? "", attempt, header: (n) => m.headers.get(n) };
}

async function quietDrain(bus: Bus): Promise<void> {
  await bus.drain({ timeoutMs: 1500 }).catch((e: unknown) => {
    if (!(e instanceof DrainTimeoutError)) throw e;
  });
}

type Mode = "core" | "jetstream";

/** The suite's subscribe options in cozebus terms, for the raw consumer and the typed clients alike. */
function typedOptions(group: string, o: ConformanceSubscribeOptions = {}, mode: Mode = "jetstream"): EventSubscribeOptions & { group: string } {
  return {
    group,
    ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
    ...(o.orderBySubject ? { orderBy: "subject" as const } : {}),
    // At most once nothing is redelivered: the typed layer refuses a retry policy there rather than ignore it.
    ...(mode === "core" ? {} : { retry: {
      ...(o.maxDeliveries !== undefined ? { maxDeliveries: o.maxDeliveries } : {}),
      ...(o.ackWaitMs !== undefined ? { ackWaitMs: o.ackWaitMs } : {}),
      backoff: { initialMs: o.retryDelayMs ?? 50, multiplier: 1, maxMs: o.retryDelayMs ?? 50, jitter: 0 },
    } }),
  };
}

const delivered = (name: string, event: Payload, ctx: EventContext): TypedDelivery => ({ name, key: event.key, payload: event.payload, id: ctx.id, attempt: ctx.attempt });

/** The suite's typed facet, on the real typed layer: EventClient and domainClient(...).subscribeAll. */
function typedBuild(bus: Bus, client: DomainClient<DomainDef>, mode: Mode): TypedBuild {
  const events = client as unknown as Record<string, unknown>;
  const names = Object.keys(events).filter((k) => events[k] instanceof EventClient);
  const eventClient = (name: string): EventClient<EventDef> => {
    const c = events[name];
    if (!names.includes(name) || !(c instanceof EventClient)) throw new Error(`this build has no event ${name}`);
    return c as EventClient<EventDef>;
  };
  return {
    events: names,
    provision: async () => void (await client.provision()),
    publish: async (name, key, payload) => ({ id: (await eventClient(name).publish({ key, payload })).id }),
    subscribe: (name, group, handler, o) => eventClient(name).subscribe((event, ctx) => handler(delivered(name, event as Payload, ctx)), typedOptions(group, o, mode)),
    subscribeAll: (group, handler, o) => client.subscribeAll((e) => handler(delivered(e.type, e.event as Payload, e.ctx)), typedOptions(group, o, mode)),
    subjectOf: (name, key) => bus.subject(eventClient(name).template, { key }),
  };
}

async function transport(mode: Mode, server: NatsServer, buses: Bus[]): Promise<ConformanceTransport> {
  const bus = await openBus({ servers: server.url, env: {}, logger: memoryLogger(), onError: () => undefined, reconnect: { waitMs: 100, jitterMs: 50 } });
  buses.push(bus);
  const js = mode === "jetstream" ? await bus.jetstream() : undefined;
  const t: ConformanceTransport = {
    subject: (...tokens) => [ROOT, ...tokens].join("."),
    pattern: (...tokens) => [ROOT, ...tokens, ">"].join("."),
    async publish(subject, data, headers, type) {
      const event = { type: type ?? TYPE, ...(headers ? { headers } : {}) };
      if (js) return { id: (await js.publish(subject, data, event)).id };
      return { id: bus.publish(subject, data, event).id };
    },
    async subscribe(pattern, group, handler, o = {}) {
      if (js) {
        // The suite only ever asks for per-subject order, which the raw consumer has.
        const { group: _group, orderBy, ...rest } = typedOptions(group, o);
        const c = await js.consume({ stream: "COZE_CONF", group, filter: pattern }, (m) => handler(adapt(m, m.delivery.attempt)), {
          ...rest,
          ...(orderBy === "subject" ? { orderBy } : {}),
        });
        return { stop: () => c.stop() };
      }
      // Core: one handler at a time keeps arrival order, which is order per key too.
      const sub = await bus.subscribe(pattern, (m) => handler(adapt(m, 1)), {
        queue: group,
        concurrency: o.orderBySubject ? 1 : (o.concurrency ?? 1),
      });
      return { stop: () => sub.drain() };
    },
    nonRetryable: (message) => new NonRetryableError(message),
    async deadLetters() {
      if (!js) return [];
      return (await js.deadLetters.list({ limit: 10_000 })).map((d) => ({ subject: d.subject, deliveries: d.deliveries, reason: d.reason, ...(d.eventId !== undefined ? { id: d.eventId } : {}) }));
    },
    async replayDeadLetters(reason) {
      if (!js) return 0;
      return js.deadLetters.replayAll(reason !== undefined ? { reason: reason as DeadLetterReason } : {});
    },
    typed: (domain, build) => Promise.resolve(typedBuild(bus, domainClient(bus, testDomain(domain, build, mode), { build: `@cozebus/conformance-${domain}@${build === "old" ? "1.0.0" : "1.1.0"}` }), mode)),
    peer: () => transport(mode, server, buses),
    restartServer: () => server.restart("SIGKILL"),
    drain: () => quietDrain(bus),
  };
  return t;
}

for (const mode of ["core", "jetstream"] as const) {
  runConformanceSuite(
    mode,
    async () => {
      const server = await startNatsServer();
      const buses: Bus[] = [];
      const t = await transport(mode, server, buses);
      if (mode === "jetstream") {
        const js = await buses[0]!.jetstream();
        await provisionRaw(js, "conf");
      }
      return {
        transport: t,
        cleanup: async () => {
          for (const b of buses) await b.close().catch(() => undefined);
          await server.stop();
        },
      };
    },
    mode === "core" ? { redelivery: false, durable: false, deadLetters: false } : { redelivery: true, durable: true, deadLetters: true },
  );
}
