/**
 * Runs the shared conformance suite from @cozebus/testing on the Pulsar
 * transport, on one real Pulsar standalone broker for the whole file (each
 * case has a domain, so topics, of its own). Pulsar gives every event
 * at-least-once delivery (effectiveQos), so the suite runs once, at least
 * once; the feature flags are PULSAR_FEATURES, which every case checks
 * against the live transport's features().
 */
import { DEFAULT_PULSAR_VERSION, startPulsar, type PulsarBroker } from "@cozebus/testing";
import { runConformanceSuite, type ConformanceTarget } from "@cozebus/testing/conformance";
import { afterAll, beforeAll } from "vitest";
import { DeadLetters, PULSAR_FEATURES, connectPulsar, type PulsarTransport } from "../src/index.js";

let broker: PulsarBroker | undefined;

beforeAll(async () => {
  const t0 = Date.now();
  broker = await startPulsar();
  console.log(`Pulsar ${broker.version} standalone started in ${Date.now() - t0} ms`);
}, 180_000);

afterAll(async () => {
  await broker?.stop();
});

function target(): Promise<ConformanceTarget> {
  const b = broker!;
  const transports: PulsarTransport[] = [];
  const dlqs: DeadLetters[] = [];
  // A subscription over every topic of a domain finds new ones every 500 ms (default 60 s), so a newer build's event type is picked up within a case.
  const instance = async (): Promise<PulsarTransport> => {
    const t = await connectPulsar({ webServiceUrl: b.webServiceUrl, env: {}, onError: () => undefined, topicRefreshMs: 500 });
    transports.push(t);
    return t;
  };
  const deadLetters = (domain: string): DeadLetters => {
    const d = new DeadLetters(transports[0]!, domain);
    dlqs.push(d);
    return d;
  };
  return Promise.resolve({
    instance,
    async deadLetters(domain) {
      const list = await deadLetters(domain).list({ limit: 1000 });
      return list.map((d) => ({ subject: d.subject, deliveries: d.deliveries, reason: d.reason, id: d.eventId }));
    },
    async replayDeadLetters(domain, reason) {
      const dl = deadLetters(domain);
      const ids = (await dl.list({ limit: 1000 })).filter((d) => reason === undefined || d.reason === reason).map((d) => d.id);
      if (ids.length === 0) return 0;
      return (await dl.replay(ids)).replayed.length;
    },
    // SIGTERM: after a SIGKILL, standalone's embedded bookie refuses new ledgers for a while ("Not enough non-faulty bookies").
    restartServer: () => b.restart("SIGTERM"),
    async cleanup() {
      for (const d of dlqs) await d.close().catch(() => undefined);
      for (const t of transports) await t.close().catch(() => undefined);
    },
  });
}

runConformanceSuite({
  name: `pulsar at-least-once (Pulsar ${DEFAULT_PULSAR_VERSION} standalone)`,
  qos: "at-least-once",
  features: PULSAR_FEATURES,
  extras: { dedupesById: false, countsCrashRedelivery: false },
  restartable: true,
  why: {
    dedupesById: "pulsar does not deduplicate by event id (broker deduplication keys on producer name + sequence id, which the WebSocket API does not carry across producers); handlers dedupe by ce-id",
    countsCrashRedelivery: "pulsar does not count a delivery whose consumer went away (its redelivery count moves only on nacks and ack timeouts), so the redelivery says attempt 1",
    brokerFilters: "pulsar has no broker-side field filters (the typed layer filters and acks what it skips; the typed filter case covers it)",
  },
  setup: target,
  slowTimeoutMs: 120_000,
});
