// A ref's @cozebus/otel (bench/build-base.sh builds it into .bench-base/dist) vs this checkout's dist, interleaved
// in one process, so load on a shared machine hits both alike. Prints medians and the per-round ratio; never asserts.
//   npx turbo run build --filter=@cozebus/otel... && bash bench/build-base.sh main && node bench/compare-base.mjs   [ROUNDS=9 N=20000]
import { SubjectTemplate } from "@cozebus/core";
import { openBus } from "@cozebus/nats";
import { silentLogger, startNatsServer } from "@cozebus/testing";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import { instrument as instrumentBase } from "../.bench-base/dist/index.js";
import { instrument as instrumentNew } from "../dist/index.js";

const N = Number(process.env.N ?? 20_000);
const ROUNDS = Number(process.env.ROUNDS ?? 9);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const server = await startNatsServer();
const bus = await openBus({ servers: server.url, env: {}, logger: silentLogger, onError: () => undefined });
try {
  const template = SubjectTemplate.parse("coze.workflow.{workflow_id}.node_started");
  const event = { address: { domain: "workflow", template, fields: { workflow_id: "wf_bench" } }, data: new Uint8Array(64), attributes: { type: "coze.workflow.v1.NodeStarted" }, qos: "at-most-once" };
  const receipt = { id: "x", subject: "coze.workflow.wf_bench.node_started", qos: "at-most-once" };
  const instant = { ...bus.transport, name: "nats", subjectRoot: "coze", publish: async () => receipt, report: () => undefined };
  for (const [label, target, M] of [["nats-server at-most-once publish", bus, N], ["decorator alone (instant transport)", instant, N * 10]]) {
    const v = {
      "base, no SDK": instrumentBase(target, { metricsServer: false }),
      "this, no SDK": instrumentNew(target, { metricsServer: false }),
      "base, SDK tracing": instrumentBase(target, { metricsServer: false, tracerProvider: new BasicTracerProvider() }),
      "this, SDK tracing": instrumentNew(target, { metricsServer: false, tracerProvider: new BasicTracerProvider() }),
    };
    const out = Object.fromEntries(Object.keys(v).map((k) => [k, []]));
    for (const t of Object.values(v)) for (let i = 0; i < 1000; i++) await t.publish(event);
    for (let r = 0; r < ROUNDS; r++) {
      // Reversed every other round: what ran just before (its garbage, a warm cache) must not favour one side.
      const order = r % 2 === 0 ? Object.entries(v) : Object.entries(v).reverse();
      for (const [k, t] of order) {
        const start = process.hrtime.bigint();
        for (let i = 0; i < M; i++) await t.publish(event);
        out[k].push(Number(process.hrtime.bigint() - start) / M);
      }
    }
    console.log(`${label}, ${M} publishes x ${ROUNDS} interleaved rounds, median ns per publish:`);
    for (const k of Object.keys(v)) console.log(`  ${k.padEnd(22)} ${median(out[k]).toFixed(0)} ns`);
    const ratio = (a, b) => median(out[a].map((x, i) => x / out[b][i])).toFixed(3);
    console.log(`  this/base ratio (median of per-round ratios): no SDK ${ratio("this, no SDK", "base, no SDK")}, SDK ${ratio("this, SDK tracing", "base, SDK tracing")}`);
  }
} finally {
  await bus.close();
  await server.stop();
}
