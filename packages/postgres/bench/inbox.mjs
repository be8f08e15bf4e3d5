// What the inbox costs on the consume path, in one process against a real nats-server and a real PostgreSQL:
// the same stream of typed events consumed by a fresh group without `idempotency`, with the NATS KV inbox and
// with the PostgreSQL inbox (claim before the handler, mark after it). Prints per-event times and the ratios
// (median of interleaved rounds, each against the plain round next to it); never asserts on time.
//   npx turbo run build --filter=@cozebus/postgres... && npm run bench -w @cozebus/postgres   [ROUNDS=3 N=5000 CONCURRENCY=16]
import pg from "pg";
import { NatsKvInboxStore, openBus } from "@cozebus/nats";
import { silentLogger, startNatsServer, startPostgres } from "@cozebus/testing";
import { workflow } from "@cozebus/workflow";
import { PostgresInboxStore, migrate } from "../dist/index.js";

const N = Number(process.env.N ?? 5_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const [nats, db] = await Promise.all([startNatsServer(), startPostgres()]);
const bus = await openBus({ servers: nats.url, env: {}, logger: silentLogger, onError: () => undefined });
const pool = new pg.Pool({ connectionString: db.url, max: CONCURRENCY + 4 });
pool.on("error", () => undefined);
try {
  await migrate(pool);
  const js = await bus.jetstream();
  await js.ensureStream(js.domainStream("workflow", ["coze.workflow.>"]));
  const started = workflow(bus.transport).executionStarted;
  for (let i = 0; i < N; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, N - i) }, (_, k) => started.publish({ workflowId: `wf${(i + k) % 101}`, executeId: BigInt(i + k) })));
  }
  const stores = { kv: new NatsKvInboxStore(bus), postgres: new PostgresInboxStore(pool) };
  let g = 0;
  /** A fresh group reads the whole stream: ns per event from subscribe to the N-th handled. */
  const run = async (kind) => {
    const group = `bench_${kind}_${++g}`;
    if (kind === "kv") await stores.kv.provision(group, { retentionMs: 3_600_000 });
    let handled = 0;
    let done;
    const all = new Promise((resolve) => (done = resolve));
    const start = process.hrtime.bigint();
    const sub = await started.subscribe(
      () => {
        if (++handled === N) done();
      },
      { group, concurrency: CONCURRENCY, ...(kind === "plain" ? {} : { idempotency: { store: stores[kind], retentionMs: 3_600_000 } }) },
    );
    await all;
    const ns = Number(process.hrtime.bigint() - start) / N;
    await sub.stop();
    return ns;
  };
  await run("plain"); await run("kv"); await run("postgres"); // warm-up
  const rounds = { plain: [], kv: [], postgres: [] };
  for (let r = 0; r < ROUNDS; r++) {
    rounds.plain.push(await run("plain"));
    rounds.kv.push(await run("kv"));
    rounds.postgres.push(await run("postgres"));
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const us = (ns) => (ns / 1000).toFixed(1);
  const line = (label, k) => {
    const r = rounds[k].map((v, i) => v / rounds.plain[i]);
    return `  ${label.padEnd(40)} ${us(median(rounds[k]))} us   ratio median ${median(r).toFixed(2)} (rounds ${Math.min(...r).toFixed(2)}-${Math.max(...r).toFixed(2)})`;
  };
  console.log(`at-least-once consume on nats-server ${nats.version}, ${N} events x ${ROUNDS} rounds, concurrency ${CONCURRENCY}, median per event:`);
  console.log(`  ${"no idempotency".padEnd(40)} ${us(median(rounds.plain))} us`);
  console.log(line("idempotency: NatsKvInboxStore", "kv"));
  console.log(line("idempotency: PostgresInboxStore", "postgres"));
} finally {
  await bus.close().catch(() => undefined);
  await pool.end().catch(() => undefined);
  await Promise.all([nats.stop(), db.stop()]);
}
