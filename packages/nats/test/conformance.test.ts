/**
 * Runs the shared conformance suite from @cozebus/testing against both
 * delivery modes of this transport, on real servers.
 */
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import { runConformanceSuite, type ConformanceMessage, type ConformanceTransport } from "@cozebus/testing/conformance";
import { DrainTimeoutError, NonRetryableError, openBus, type Bus, type InboundMessage } from "../src/index.js";
import { memoryLogger } from "./helpers.js";

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

async function transport(mode: Mode, server: NatsServer, buses: Bus[]): Promise<ConformanceTransport> {
  const bus = await openBus({ servers: server.url, env: {}, logger: memoryLogger(), onError: () => undefined, reconnect: { waitMs: 100, jitterMs: 50 } });
  buses.push(bus);
  const js = mode === "jetstream" ? await bus.jetstream() : undefined;
  const t: ConformanceTransport = {
    subject: (...tokens) => [ROOT, ...tokens].join("."),
    pattern: (...tokens) => [ROOT, ...tokens, ">"].join("."),
    async publish(subject, data, headers) {
      const event = { type: TYPE, ...(headers ? { headers } : {}) };
      if (js) return { id: (await js.publish(subject, data, event)).id };
      return { id: bus.publish(subject, data, event).id };
    },
    async subscribe(pattern, group, handler, o = {}) {
      if (js) {
        const c = await js.consume(
          { stream: "COZE_CONF", group, filter: pattern },
          (m) => handler(adapt(m, m.delivery.attempt)),
          {
            ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
            ...(o.orderBySubject ? { orderBy: "subject" as const } : {}),
            retry: {
              ...(o.maxDeliveries !== undefined ? { maxDeliveries: o.maxDeliveries } : {}),
              ...(o.ackWaitMs !== undefined ? { ackWaitMs: o.ackWaitMs } : {}),
              backoff: { initialMs: o.retryDelayMs ?? 50, multiplier: 1, maxMs: o.retryDelayMs ?? 50, jitter: 0 },
            },
          },
        );
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
      return (await js.deadLetters.list()).map((d) => ({ subject: d.subject, deliveries: d.deliveries, reason: d.reason }));
    },
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
        await js.provision(["conf"]);
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
