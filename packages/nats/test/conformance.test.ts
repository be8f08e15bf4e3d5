/**
 * Runs the shared conformance suite from @cozebus/testing on this transport
 * (bus.transport, the port itself) for both qualities of service — at most
 * once is core NATS, at least once is JetStream — on a real nats-server of
 * the matrix's version. The feature flags are the transport's own
 * `features(qos)` on that server, read before the tests are collected, so
 * a case needing a newer server (order per key: 2.11+) is skipped by name
 * on older ones.
 */
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import { runConformanceSuite, type ConformanceTarget } from "@cozebus/testing/conformance";
import { openBus, type Bus, type DeadLetterReason, type QualityOfService } from "../src/index.js";
import { memoryLogger } from "./helpers.js";

const open = (server: NatsServer): Promise<Bus> =>
  openBus({ servers: server.url, env: {}, logger: memoryLogger(), onError: () => undefined, reconnect: { waitMs: 100, jitterMs: 50 } });

/** What the transport declares on this server, and the server's version, read from a probe connection. */
async function probe(): Promise<{ version: string; features: Record<QualityOfService, ReturnType<Bus["transport"]["features"]>> }> {
  const server = await startNatsServer();
  try {
    const bus = await open(server);
    const out = { version: bus.server.version, features: { "at-most-once": bus.transport.features("at-most-once"), "at-least-once": bus.transport.features("at-least-once") } };
    await bus.close();
    return out;
  } finally {
    await server.stop();
  }
}

const { version, features } = await probe();

async function target(): Promise<ConformanceTarget> {
  const server = await startNatsServer();
  const buses: Bus[] = [];
  const instance = async () => {
    const bus = await open(server);
    buses.push(bus);
    return bus.transport;
  };
  // The suite's first instance: dead letters are read and replayed through its connection.
  const first = (): Bus => buses[0]!;
  return {
    instance,
    async deadLetters(domain) {
      const js = await first().jetstream();
      const list = await js.deadLetters.list({ limit: 10_000, stream: js.domainStreamName(domain) });
      return list.map((d) => ({ subject: d.subject, deliveries: d.deliveries, reason: d.reason, id: d.eventId }));
    },
    async replayDeadLetters(domain, reason?: DeadLetterReason) {
      const js = await first().jetstream();
      return js.deadLetters.replayAll({ stream: js.domainStreamName(domain), ...(reason !== undefined ? { reason } : {}) });
    },
    restartServer: () => server.restart("SIGKILL"),
    async cleanup() {
      for (const b of buses) await b.close().catch(() => undefined);
      await server.stop();
    },
  };
}

for (const [qos, mode] of [
  ["at-most-once", "core NATS"],
  ["at-least-once", "JetStream"],
] as const) {
  const core = qos === "at-most-once";
  runConformanceSuite({
    name: `nats ${qos} (${mode}, nats-server ${version})`,
    qos,
    features: features[qos],
    extras: { dedupesById: !core, countsCrashRedelivery: !core },
    restartable: !core,
    why: core
      ? {
          durable: "core NATS keeps nothing: a group gets only what is published while it listens",
          redelivery: "core NATS has no redelivery (at most once)",
          deadLetters: "core NATS has no dead letters (failures are reported)",
          extendAck: "core NATS has no ack deadline",
          orderPerKey: "core NATS has no order per key across instances",
          dedupesById: "core NATS does not deduplicate (Nats-Msg-Id is a JetStream header)",
          restart: "core NATS keeps nothing across a restart, so the restart case has nothing to check",
        }
      : {
          orderPerKey: `order per key across instances needs nats-server 2.11+ (pinned clients); this is ${version}`,
          messageTtl: `per-event TTL needs nats-server 2.11+; this is ${version}`,
          delayedDelivery: `delayed delivery needs nats-server 2.12+; this is ${version}`,
          atomicBatch: `atomic batches need nats-server 2.12+; this is ${version}`,
        },
    setup: target,
  });
}
