import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger, startNatsServer, startPrometheus, waitFor, type NatsServer, type PrometheusServer } from "@cozebus/testing";
import { openBus, type Bus } from "@cozebus/nats";
import { ConfigError, NonRetryableError } from "@cozebus/core";
import { workflow } from "@cozebus/workflow";
import { instrument, metricsServerFromEnv, startMetricsServer, type InstrumentedTransport, type MetricsServer } from "../src/index.js";

let nats: NatsServer;
let bus: Bus;
let prom: PrometheusServer | undefined;
let t: InstrumentedTransport;
let endpoint: MetricsServer;
let ready = true;
const RETRY = { maxDeliveries: 3, backoff: { initialMs: 50, maxMs: 100, jitter: 0 } };
const STARTED = 'messaging_destination_template="coze.workflow.{workflow_id}.started"';

beforeAll(async () => {
  nats = await startNatsServer();
  bus = await openBus({ servers: nats.url, env: {}, logger: silentLogger, onError: () => undefined });
  await workflow(bus).provision();
  // Turned on the way a service does it, through the environment.
  t = instrument(bus, { env: { COZEBUS_METRICS_PORT: "0" } });
  endpoint = await t.metricsServer!;
});
afterAll(async () => {
  await prom?.stop();
  await t?.close(); // closes the bus and the endpoint
  await nats?.stop();
});

const get = async (path: string): Promise<{ status: number; body: string }> => {
  const res = await fetch(`${endpoint.url}${path}`);
  return { status: res.status, body: await res.text() };
};

describe("COZEBUS_METRICS_PORT", () => {
  it("is validated, naming the variable; unset or empty means no endpoint", () => {
    expect(metricsServerFromEnv({})).toBeUndefined();
    expect(metricsServerFromEnv({ COZEBUS_METRICS_PORT: "" })).toBeUndefined();
    expect(metricsServerFromEnv({ COZEBUS_METRICS_PORT: "9464" })).toEqual({ port: 9464 });
    expect(metricsServerFromEnv({ COZEBUS_METRICS_PORT: " 0 ", COZEBUS_METRICS_HOST: "0.0.0.0" })).toEqual({ port: 0, host: "0.0.0.0" });
    for (const bad of ["http", "-1", "65536", "9464.5", "1e3"]) {
      expect(() => metricsServerFromEnv({ COZEBUS_METRICS_PORT: bad })).toThrow(ConfigError);
      expect(() => metricsServerFromEnv({ COZEBUS_METRICS_PORT: bad })).toThrow(/COZEBUS_METRICS_PORT/);
    }
    expect(() => metricsServerFromEnv({ COZEBUS_METRICS_PORT: "1", COZEBUS_METRICS_HOST: "a b" })).toThrow(/COZEBUS_METRICS_HOST/);
    expect(() => instrument(bus, { env: { COZEBUS_METRICS_PORT: "x" } })).toThrow(/COZEBUS_METRICS_PORT/);
    expect(() => startMetricsServer({ port: 70_000 })).toThrow(/metricsServer.port/);
  });

  it("binds 127.0.0.1 by default and serves /metrics, /healthz, /readyz", async () => {
    expect(endpoint.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await get("/healthz")).toEqual({ status: 200, body: "ok\n" });
    expect((await get("/readyz")).status).toBe(200);
    expect((await get("/metrics")).status).toBe(200);
    expect((await get("/nothing")).status).toBe(404);
  });

  it("a taken port is reported on the transport's error hook, never an unhandled rejection", async () => {
    const errors: Error[] = [];
    const other = await openBus({ servers: nats.url, env: {}, logger: silentLogger, onError: (e) => void errors.push(e) });
    const clash = instrument(other, { metricsServer: { port: endpoint.port } });
    await expect(clash.metricsServer).rejects.toThrow(/EADDRINUSE/);
    await waitFor("reported", () => errors.some((e) => /EADDRINUSE/.test(e.message)));
    await clash.close();
  });
});

describe("/readyz", () => {
  it("follows the ready() callback, and says not ready once the transport drains", async () => {
    const other = await openBus({ servers: nats.url, env: {}, logger: silentLogger, onError: () => undefined });
    const probe = instrument(other, { metricsServer: { port: 0, ready: () => ready } });
    const s = await probe.metricsServer!;
    const status = async (): Promise<number> => (await fetch(`${s.url}/readyz`)).status;
    expect(await status()).toBe(200);
    ready = false;
    expect(await status()).toBe(503);
    ready = true;
    const throwing = instrument(other, { metricsServer: { port: 0, ready: () => Promise.reject(new Error("db down")) } });
    const s2 = await throwing.metricsServer!;
    expect((await fetch(`${s2.url}/readyz`)).status).toBe(503);
    expect((await fetch(`${s2.url}/healthz`)).status).toBe(200);
    await (await throwing.metricsServer)!.close();
    // Draining: not ready at once (the server closes when the drain ends).
    const draining = probe.drain();
    expect(await status().catch(() => 503)).toBe(503);
    await draining;
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
  });
});

describe("counts, scraped by a real Prometheus", () => {
  it("sent, consumed, retries, dead letters and durations match what the test sent", async () => {
    prom = await startPrometheus({ targets: [endpoint.url.replace(/^http:\/\//, "")], scrapeIntervalMs: 1000 });
    const wf = workflow(t);
    let tries = 0;
    let handled = 0;
    const sub = await wf.executionStarted.subscribe(
      (e, ctx) => {
        handled++;
        if (e.workflowId === "wf_poison") throw new NonRetryableError("bad input");
        if (e.workflowId === "wf_flaky" && ctx.attempt < 3) {
          tries++;
          throw new Error("flaky");
        }
      },
      { group: "runner", retry: RETRY },
    );
    const ids = ["wf_1", "wf_2", "wf_3", "wf_flaky", "wf_poison"];
    for (const workflowId of ids) await wf.executionStarted.publish({ workflowId });
    await wf.nodeStarted.publish({ workflowId: "wf_1", nodeId: "n" }); // at most once, nobody listens: sent, never consumed
    await waitFor("every delivery handled", () => handled === 3 + 3 + 1, 20_000);
    await sub.stop();
    expect(tries).toBe(2);

    await prom.scrapedAfter(new Date());
    const v = (q: string): Promise<number> => prom!.value(q);
    expect(await v(`sum(messaging_client_sent_messages_total{${STARTED}})`)).toBe(5);
    expect(await v(`sum(messaging_client_sent_messages_total{messaging_system="nats",messaging_operation_name="send"})`)).toBe(6);
    expect(await v(`sum(messaging_client_sent_messages_total{error_type!=""})`)).toBe(0);
    expect(await v(`sum(messaging_client_consumed_messages_total{${STARTED},messaging_consumer_group_name="runner"})`)).toBe(7);
    expect(await v(`sum(cozebus_consumer_retries_total{${STARTED}})`)).toBe(2);
    expect(await v(`sum(cozebus_consumer_dead_letters_total{cozebus_dead_letter_reason="non-retryable"})`)).toBe(1);
    expect(await v(`sum(messaging_process_duration_count{${STARTED}})`)).toBe(7);
    expect(await v(`sum(messaging_process_duration_count{${STARTED},error_type="Error"})`)).toBe(2);
    expect(await v(`sum(messaging_process_duration_count{${STARTED},error_type="NonRetryableError"})`)).toBe(1);
    expect(await v(`sum(messaging_client_operation_duration_count{messaging_operation_name="send"})`)).toBe(6);
    expect(await v(`sum(cozebus_consumer_active)`)).toBe(0);
    // The histogram's buckets: every publish to a local server took under 10 s.
    expect(await v(`sum(messaging_client_operation_duration_bucket{le="10"})`)).toBe(6);

    // One long handler (700 ms against a 300 ms ack wait), so the heartbeat counter is served too, and a live group for the lag gauges.
    let long = 0;
    const slow = await wf.executionCancelled.subscribe(() => new Promise<void>((r) => setTimeout(() => r(void long++), 700)), { group: "slow", retry: { ackWaitMs: 300 } });
    await wf.executionCancelled.publish({ workflowId: "wf_long" });
    await waitFor("the long handler", () => long === 1, 10_000);

    // The Grafana dashboard: valid JSON, every panel's query names only metrics the endpoint serves, and Prometheus runs each of them.
    const dashboard = JSON.parse(readFileSync(fileURLToPath(new URL("../../../deploy/grafana/cozebus.json", import.meta.url)), "utf8")) as Dashboard;
    const served = new Set(
      (await get("/metrics")).body
        .split("\n")
        .filter((l) => l !== "" && !l.startsWith("#"))
        .map((l) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(l)![0]),
    );
    const panels = dashboard.panels.filter((p) => p.type !== "row");
    expect(panels.length).toBeGreaterThanOrEqual(6);
    for (const panel of panels) {
      expect(panel.targets?.length, `panel "${panel.title}" has queries`).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        // Metric names: what is left once label matchers {...} and by (...) / without (...) groupings are cut out.
        const bare = target.expr.replace(/\{[^}]*\}/g, "").replace(/\b(?:by|without)\s*\([^)]*\)/g, "");
        const names = bare.match(/\b(?:messaging|cozebus)_[a-z0-9_]+/g) ?? [];
        expect(names.length, `panel "${panel.title}": ${target.expr}`).toBeGreaterThan(0);
        for (const n of names) expect(served, `panel "${panel.title}" uses ${n}`).toContain(n);
        const promql = target.expr.replace(/\$__rate_interval|\$__interval|\$__range/g, "1m").replace(/\$\{?\w+\}?/g, ".*");
        await expect(prom.query(promql), `panel "${panel.title}" runs: ${promql}`).resolves.toBeInstanceOf(Array);
      }
    }
    await slow.stop(); // after: its lag (read when it subscribed) is served only while it runs
  });
});

describe("deploy/helm", () => {
  it("the service manifest probes /healthz and /readyz on the metrics port that COZEBUS_METRICS_PORT opens", () => {
    const read = (f: string): unknown[] => parseAllDocuments(readFileSync(fileURLToPath(new URL(`../../../deploy/helm/${f}`, import.meta.url)), "utf8")).map((d) => d.toJS() as unknown);
    const [env] = read("cozebus-env.yaml") as Array<{ data: Record<string, string> }>;
    const port = Number(env!.data["COZEBUS_METRICS_PORT"]);
    expect(metricsServerFromEnv(env!.data)).toEqual({ port });
    type Container = {
      env?: Array<{ name: string; value: string }>;
      envFrom?: Array<{ configMapRef: { name: string } }>;
      ports: Array<{ name: string; containerPort: number }>;
      livenessProbe: { httpGet: { path: string; port: string } };
      readinessProbe: { httpGet: { path: string; port: string } };
    };
    const docs = read("cozebus-service.yaml") as Array<{ kind: string; spec: { template?: { spec: { containers: Container[] } } } }>;
    const deployment = docs.find((d) => d.kind === "Deployment")!;
    const c = deployment.spec.template!.spec.containers[0]!;
    expect(c.envFrom?.map((e) => e.configMapRef.name)).toContain("cozebus-env");
    const metricsPort = c.ports.find((p) => p.name === c.readinessProbe.httpGet.port);
    expect(metricsPort?.containerPort).toBe(port);
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: metricsPort!.name });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: metricsPort!.name });
    // The probes come from outside the pod: the endpoint must not bind 127.0.0.1 there.
    expect(metricsServerFromEnv({ ...env!.data, ...Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value])) })).toEqual({ port, host: "0.0.0.0" });
  });
});

interface Dashboard {
  panels: Array<{ title: string; type: string; targets?: Array<{ expr: string }> }>;
}
