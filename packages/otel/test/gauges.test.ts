import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger, startNatsServer, startPrometheus, waitFor, type NatsServer, type PrometheusServer } from "@cozebus/testing";
import { openBus, type Bus } from "@cozebus/nats";
import { workflow } from "@cozebus/workflow";
import { instrument, type InstrumentedTransport, type MetricsServer } from "../src/index.js";

// Heartbeats, the publish window and consumer lag, from a real nats-server, scraped by a real Prometheus.
let nats: NatsServer;
let bus: Bus;
let spy: Bus;
let prom: PrometheusServer | undefined;
let t: InstrumentedTransport;
let endpoint: MetricsServer;
/** Every +WPI on the wire, as a second connection sees the acks the bus sends. */
let wireHeartbeats = 0;
let markers = 0;

beforeAll(async () => {
  nats = await startNatsServer();
  bus = await openBus({ servers: nats.url, env: {}, logger: silentLogger, onError: () => undefined });
  spy = await openBus({ servers: nats.url, env: {}, logger: silentLogger, onError: () => undefined });
  await workflow(bus).provision();
  await spy.subscribe("$JS.ACK.>", (m) => {
    if (new TextDecoder().decode(m.data) === "+WPI") wireHeartbeats++;
  });
  await spy.subscribe("test.marker", () => void markers++);
  t = instrument(bus, { metricsServer: { port: 0 }, lagIntervalMs: 250 });
  endpoint = await t.metricsServer!;
  prom = await startPrometheus({ targets: [endpoint.url.replace(/^http:\/\//, "")], scrapeIntervalMs: 1000 });
});
afterAll(async () => {
  await prom?.stop();
  await t?.close();
  await spy?.close();
  await nats?.stop();
});

/** Everything the bus sent before this call has reached the spy (one connection's publishes arrive in order). */
async function spyCaughtUp(): Promise<void> {
  const want = markers + 1;
  bus.publish("test.marker", new Uint8Array(0), { type: "test.Marker" });
  await waitFor("the marker", () => markers === want);
}

const BACKLOG = 1200;
/** What a JetStream consumer holds unacknowledged at most: the typed layer's default max_ack_pending (max(1000, 4 x concurrency)). */
const MAX_ACK_PENDING = 1000;
const CAPACITY = 256; // the JetStream publisher's default window

describe("gauges and heartbeats, scraped by a real Prometheus", () => {
  it("heartbeats equal the +WPI sent, lag equals the known backlog, the window is within its capacity", async () => {
    const wf = workflow(t);

    // A long handler: 1.5 s against a 600 ms ack wait, kept alive by heartbeats every 200 ms.
    const attempts: number[] = [];
    const slow = await wf.executionCancelled.subscribe(
      async (_e, ctx) => {
        attempts.push(ctx.attempt);
        await new Promise((r) => setTimeout(r, 1500));
      },
      { group: "slow", retry: { ackWaitMs: 600 } },
    );
    await wf.executionCancelled.publish({ workflowId: "wf_long" });
    await waitFor("the long handler ran", () => attempts.length === 1, 10_000);

    // A backed-up group: its handler blocks on the first event, so the server holds the rest.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let handled = 0;
    const lagging = await wf.executionStarted.subscribe(
      async () => {
        await gate;
        handled++;
      },
      { group: "lagging" },
    );
    // The burst: every publish at once, through the pipelined window.
    await Promise.all(Array.from({ length: BACKLOG }, (_, i) => wf.executionStarted.publish({ workflowId: `wf_${i}` })));

    const v = (q: string): Promise<number> => prom!.value(q);
    const LAG = 'messaging_consumer_group_name="lagging"';
    // Quiesced: the group holds its max_ack_pending, the rest waits on the server.
    await waitFor(
      "Prometheus sees the quiesced backlog",
      async () => (await v(`sum(cozebus_consumer_lag_pending{${LAG}})`)) === BACKLOG - MAX_ACK_PENDING && (await v(`sum(cozebus_consumer_lag_ack_pending{${LAG}})`)) === MAX_ACK_PENDING,
      30_000,
    );
    const lagSeries = await prom!.query(`cozebus_consumer_lag_pending{${LAG}}`);
    expect(lagSeries).toHaveLength(1);
    expect(lagSeries[0]!.metric).toMatchObject({ messaging_system: "nats", cozebus_consumer_destination: "COZE_WORKFLOW", cozebus_consumer_name: expect.stringMatching(/^lagging_[0-9a-f]+$/) }); // the durable: group + filter hash
    expect(await v(`sum(cozebus_consumer_lag_redelivered{${LAG}})`)).toBe(0);
    // Only the groups this process subscribes: the slow one is there too, with nothing left.
    expect(await v('sum(cozebus_consumer_lag_pending{messaging_consumer_group_name="slow"})')).toBe(0);
    expect((await prom!.query("cozebus_consumer_lag_pending")).map((s) => s.metric["messaging_consumer_group_name"]).sort()).toEqual(["lagging", "slow"]);

    // The window: capacity as configured; the burst's peak was seen by a scrape and stayed within it.
    expect(await v('cozebus_publish_window_capacity{messaging_system="nats"}')).toBe(CAPACITY);
    const peak = await v("max_over_time(cozebus_publish_window_peak[1m])");
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(CAPACITY);
    expect(await v("max_over_time(cozebus_publish_window_in_flight[1m])")).toBeLessThanOrEqual(CAPACITY);

    release();
    await waitFor("the backlog handled", () => handled === BACKLOG, 60_000);
    await waitFor("Prometheus sees the backlog gone", async () => (await v(`sum(cozebus_consumer_lag_pending{${LAG}})`)) === 0 && (await v(`sum(cozebus_consumer_lag_ack_pending{${LAG}})`)) === 0, 30_000);
    await lagging.stop();
    await slow.stop();
    expect(attempts, "the heartbeats kept the long handler's event from being redelivered").toEqual([1]);

    // Heartbeats: counted per +WPI actually sent, so the metric equals what went over the wire.
    await spyCaughtUp();
    expect(wireHeartbeats).toBeGreaterThanOrEqual(4); // 1.5 s / 200 ms, less start-up and scheduling slack
    await prom!.scrapedAfter(new Date());
    expect(await v("sum(cozebus_consumer_heartbeats_total)")).toBe(wireHeartbeats);
    expect(await v('sum(cozebus_consumer_heartbeats_total{messaging_consumer_group_name="slow",messaging_destination_template="coze.workflow.{workflow_id}.cancelled"})')).toBeGreaterThan(0);
    // Not asserted: that a stopped group's lag series disappears. The decorator stops observing it, but the
    // OpenTelemetry JS SDK (2.12, cumulative) keeps exporting an async series' last value; see docs/observability.md.
  }, 180_000);
});
