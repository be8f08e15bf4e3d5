// What instrument() costs on the publish path, in one process against a real
// nats-server: the plain transport vs instrument(transport) with no SDK
// registered (the no-op API), and with an SDK tracer that records every span.
// Prints per-publish times and the ratios (median of interleaved rounds); never asserts on time.
//   npx turbo run build --filter=@cozebus/otel... && npm run bench -w @cozebus/otel   [ROUNDS=9 N=20000]
import { SubjectTemplate } from "@cozebus/core";
import { openBus } from "@cozebus/nats";
import { silentLogger, startNatsServer } from "@cozebus/testing";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import { instrument } from "../dist/index.js";

const N = Number(process.env.N ?? 20_000);
const ROUNDS = Number(process.env.ROUNDS ?? 9);
const server = await startNatsServer();
const bus = await openBus({ servers: server.url, env: {}, logger: silentLogger, onError: () => undefined });
try {
  const template = SubjectTemplate.parse("coze.workflow.{workflow_id}.node_started");
  const event = {
    address: { domain: "workflow", template, fields: { workflow_id: "wf_bench" } },
    data: new Uint8Array(64),
    attributes: { type: "coze.workflow.v1.NodeStarted" },
    qos: "at-most-once",
  };
  const plain = bus.transport;
  const noSdk = instrument(bus, { metricsServer: false });
  const sdk = instrument(bus, { metricsServer: false, tracerProvider: new BasicTracerProvider() });
  const run = async (t) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < N; i++) await t.publish(event);
    const ns = Number(process.hrtime.bigint() - start) / N;
    await bus.flush?.();
    return ns;
  };
  const rounds = { plain: [], noSdk: [], sdk: [] };
  await run(plain); await run(noSdk); await run(sdk); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    // Interleaved rounds, each ratio against the plain round next to it: the shared 2-core machine's noise hits all three alike.
    rounds.plain.push(await run(plain));
    rounds.noSdk.push(await run(noSdk));
    rounds.sdk.push(await run(sdk));
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const ratios = (k) => rounds[k].map((v, i) => v / rounds.plain[i]);
  const us = (ns) => (ns / 1000).toFixed(2);
  const line = (label, k) => {
    const r = ratios(k);
    return `  ${label.padEnd(36)} ${us(median(rounds[k]))} us   ratio median ${median(r).toFixed(3)} (rounds ${Math.min(...r).toFixed(2)}-${Math.max(...r).toFixed(2)})`;
  };
  console.log(`at-most-once publish on nats-server, ${N} publishes x ${ROUNDS} rounds, median per publish:`);
  console.log(`  ${"transport".padEnd(36)} ${us(median(rounds.plain))} us`);
  console.log(line("instrument(transport), no SDK", "noSdk"));
  console.log(line("instrument(transport), SDK tracing", "sdk"));

  // The decorator alone, with no broker in the way: against a transport whose publish returns at once.
  const receipt = { id: "x", subject: "coze.workflow.wf_bench.node_started", qos: "at-most-once" };
  const instant = { ...plain, name: "nats", subjectRoot: "coze", publish: async () => receipt, report: () => undefined };
  const alone = { plain: instant, noSdk: instrument(instant, { metricsServer: false }), sdk: instrument(instant, { metricsServer: false, tracerProvider: new BasicTracerProvider() }) };
  const M = N * 10;
  const time = async (t) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < M; i++) await t.publish(event);
    return Number(process.hrtime.bigint() - start) / M;
  };
  const cost = { plain: [], noSdk: [], sdk: [] };
  for (let r = 0; r < ROUNDS; r++) for (const k of ["plain", "noSdk", "sdk"]) cost[k].push(await time(alone[k]));
  const ns = (k) => median(cost[k]).toFixed(0);
  console.log(`the decorator alone (a transport whose publish returns at once), ${M} x ${ROUNDS}, median per publish:`);
  console.log(`  bare ${ns("plain")} ns; instrument() no SDK ${ns("noSdk")} ns (+${(median(cost.noSdk) - median(cost.plain)).toFixed(0)} ns); SDK tracing ${ns("sdk")} ns (+${(median(cost.sdk) - median(cost.plain)).toFixed(0)} ns)`);
} finally {
  await bus.close();
  await server.stop();
}
