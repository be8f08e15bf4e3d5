import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPrometheus, startPulsar, waitFor, type PrometheusServer, type PulsarBroker } from "@cozebus/testing";
import { connectPulsar, type PulsarTransport } from "@cozebus/pulsar";
import { workflow } from "@cozebus/workflow";
import { instrument, type InstrumentedTransport } from "../src/index.js";

// Consumer lag on Pulsar (the admin REST topic stats), scraped by a real Prometheus.
let broker: PulsarBroker;
let pulsar: PulsarTransport;
let prom: PrometheusServer | undefined;
let t: InstrumentedTransport;

beforeAll(async () => {
  broker = await startPulsar();
  pulsar = await connectPulsar({ webServiceUrl: broker.webServiceUrl, env: {}, onError: () => undefined });
  t = instrument(pulsar, { metricsServer: { port: 0 }, lagIntervalMs: 250 });
  const endpoint = await t.metricsServer!;
  prom = await startPrometheus({ targets: [endpoint.url.replace(/^http:\/\//, "")], scrapeIntervalMs: 1000 });
}, 180_000);
afterAll(async () => {
  await prom?.stop();
  await t?.close();
  await broker?.stop();
});

describe("consumer lag on Pulsar", () => {
  it("pending (msgBacklog) equals the known backlog of a blocked group, ack pending (unackedMessages) is within it; both drop to 0 once handled", async () => {
    const wf = workflow(t);
    await wf.provision();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let handled = 0;
    const sub = await wf.executionStarted.subscribe(
      async () => {
        await gate;
        handled++;
      },
      { group: "lagging", concurrency: 1 },
    );
    const N = 20;
    for (let i = 0; i < N; i++) await wf.executionStarted.publish({ workflowId: `wf_${i}` });

    const v = (q: string): Promise<number> => prom!.value(q);
    const LAG = 'messaging_system="pulsar",messaging_consumer_group_name="lagging"';
    await waitFor("Prometheus sees the backlog", async () => (await v(`sum(cozebus_consumer_lag_pending{${LAG}})`)) === N, 30_000);
    const series = await prom!.query(`cozebus_consumer_lag_pending{${LAG}}`);
    expect(series).toHaveLength(1);
    expect(series[0]!.metric["cozebus_consumer_destination"]).toMatch(/^persistent:\/\/.+coze\.workflow\.started$/);
    // Delivered and unacknowledged: at most the whole backlog (the broker dispatches ahead into the receiver queue).
    const ackPending = await v(`sum(cozebus_consumer_lag_ack_pending{${LAG}})`);
    expect(ackPending).toBeGreaterThan(0);
    expect(ackPending).toBeLessThanOrEqual(N);
    // Pulsar does not count redeliveries per subscription: no such series.
    expect(await prom!.query(`cozebus_consumer_lag_redelivered{${LAG}}`)).toEqual([]);

    release();
    await waitFor("all handled", () => handled === N, 30_000);
    await waitFor("Prometheus sees the backlog gone", async () => (await v(`sum(cozebus_consumer_lag_pending{${LAG}})`)) === 0 && (await v(`sum(cozebus_consumer_lag_ack_pending{${LAG}})`)) === 0, 30_000);
    await sub.stop();
  }, 120_000);
});
