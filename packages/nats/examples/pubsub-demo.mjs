#!/usr/bin/env node
// The end-to-end demo of the core transport: workflow events fanned out to a
// queue group of two workers (one of them buggy), a status service answering
// over request/reply, and a summary that proves nothing was lost.
//
//   node packages/nats/examples/pubsub-demo.mjs [--events N]
//
// Uses NATS_SERVER_URL (and every other NATS_* variable) when set; otherwise
// starts a throwaway local nats-server.
import { performance } from "node:perf_hooks";
import { openBus, SubjectTemplate } from "@cozebus/nats";
import { startNatsServer } from "@cozebus/testing";

const argIndex = process.argv.indexOf("--events");
const EVENTS = argIndex > 0 ? Number(process.argv[argIndex + 1]) : 10_000;
if (!Number.isInteger(EVENTS) || EVENTS < 1) {
  console.error("--events needs a positive integer");
  process.exit(2);
}
const WORKFLOWS = 50;
const TYPE = "coze.workflow.v1.WorkflowExecutionStarted";
const started = SubjectTemplate.parse("coze.workflow.{workflow_id}.started");
const statusOp = SubjectTemplate.parse("coze.workflow.{workflow_id}.get_status");
const enc = (v) => new TextEncoder().encode(JSON.stringify(v));
const dec = (b) => JSON.parse(new TextDecoder().decode(b));

const configured = process.env.NATS_SERVER_URL || process.env.MQ_NAME_SERVER;
const server = configured ? undefined : await startNatsServer();
if (server) console.log(`no NATS_SERVER_URL set: started a local nats-server at ${server.url}`);

const reported = [];
const bus = await openBus({ ...(server ? { servers: server.url } : {}), name: "cozebus-demo", onError: (e) => reported.push(e) });
console.log(`connected: ${bus.describe()} (nats-server ${bus.server.version})`);

const sentAt = new Map();
const latencies = [];
const perWorker = [0, 0];
const perWorkflow = new Map();
let delivered = 0;
let duplicates = 0;
const seen = new Set();

function record(worker, m) {
  const id = m.event.id;
  if (seen.has(id)) duplicates++;
  seen.add(id);
  latencies.push(performance.now() - sentAt.get(id));
  perWorker[worker]++;
  delivered++;
  const { workflowId } = dec(m.data);
  perWorkflow.set(workflowId, (perWorkflow.get(workflowId) ?? 0) + 1);
}

// Two runners share the executions (queue group). Runner 2 has a bug on every
// 97th event: it throws after recording; the error is reported, delivery goes on.
for (const worker of [0, 1]) {
  await bus.subscribe(
    bus.pattern(started),
    (m) => {
      record(worker, m);
      if (worker === 1 && delivered % 97 === 0) throw new Error(`runner 2 crashed on ${m.subject}`);
    },
    { queue: "workflow-runner" },
  );
}
await bus.serve(bus.pattern(statusOp), (req) => {
  const { workflow_id } = statusOp.match(req.subject, bus.prefix);
  return enc({ workflowId: workflow_id, executionsStarted: perWorkflow.get(workflow_id) ?? 0 });
});

const t0 = performance.now();
for (let i = 0; i < EVENTS; i++) {
  const workflowId = `wf-${i % WORKFLOWS}`;
  const subject = bus.subject(started, { workflow_id: workflowId });
  const now = performance.now();
  const { id } = bus.publish(subject, enc({ workflowId, executeId: `exec-${i}` }), { type: TYPE });
  sentAt.set(id, now);
  if (i % 1000 === 999) await bus.nats.flush();
}
await bus.nats.flush();

const deadline = Date.now() + 30_000;
while (delivered < EVENTS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
const elapsed = (performance.now() - t0) / 1000;

const status = dec((await bus.request(bus.subject(statusOp, { workflow_id: "wf-7" }), enc({}), { type: "coze.workflow.v1.GetExecutionStatusRequest" })).data);

latencies.sort((a, b) => a - b);
const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : NaN);
const summary = {
  published: EVENTS,
  delivered,
  lost: EVENTS - delivered,
  duplicates,
  handler_errors_reported: reported.length,
  runner_split: perWorker,
  status_wf_7: status.executionsStarted,
  throughput_msg_s: Math.round(delivered / elapsed),
  p50_ms: Number(pct(50).toFixed(3)),
  p99_ms: Number(pct(99).toFixed(3)),
};
console.log("\nsummary");
for (const [k, v] of Object.entries(summary)) console.log(`  ${k.padEnd(24)} ${Array.isArray(v) ? v.join(" / ") : v}`);
console.log(JSON.stringify(summary));

await bus.drain();
await server?.stop();
process.exit(summary.lost === 0 && summary.duplicates === 0 ? 0 : 1);
