// What instrument() costs on the publish path, in one process against a real
// nats-server: the plain transport vs instrument(transport) with no SDK
// registered (the no-op API), and with an SDK tracer that records every span.
// Prints per-publish times and the ratios; never asserts on time.
//   npm run build && npm run bench -w @cozebus/otel   [ROUNDS=5 N=20000]
import { SubjectTemplate } from "@cozebus/core";
import { openBus } from "@cozebus/nats";
import { silentLogger, startNatsServer } from "@cozebus/testing";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import { instrument } from "../dist/index.js";

const N = Number(process.env.N ?? 20_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
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
  const best = { plain: Infinity, noSdk: Infinity, sdk: Infinity };
  await run(plain); await run(noSdk); await run(sdk); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    // Interleaved, best of ROUNDS: the 2-core machine's noise hits all three alike.
    best.plain = Math.min(best.plain, await run(plain));
    best.noSdk = Math.min(best.noSdk, await run(noSdk));
    best.sdk = Math.min(best.sdk, await run(sdk));
  }
  const us = (ns) => (ns / 1000).toFixed(2);
  console.log(`at-most-once publish, ${N} x ${ROUNDS} rounds, best round, per publish:`);
  console.log(`  transport                          ${us(best.plain)} us`);
  console.log(`  instrument(transport), no SDK      ${us(best.noSdk)} us   ratio ${(best.noSdk / best.plain).toFixed(3)}`);
  console.log(`  instrument(transport), SDK tracing ${us(best.sdk)} us   ratio ${(best.sdk / best.plain).toFixed(3)}`);
} finally {
  await bus.close();
  await server.stop();
}
