/**
 * `cozebus outbox relay | migrate | status`: the transactional outbox of
 * @cozebus/postgres from a terminal or as a process of its own. `relay`
 * publishes the committed rows through the chosen transport (NATS or
 * Pulsar, via the port) until SIGTERM/SIGINT, which lets the batch in
 * progress publish and mark before it exits; `--once` publishes what is due
 * and exits. Parses its own arguments (main.ts hands it argv as is).
 */
import { parseArgs } from "node:util";
import { connectTransport, type GlobalFlags } from "../connect.js";
import { CliError, usageError } from "../errors.js";
import { openOutboxDatabase, type Backlog, type OutboxDatabase } from "./outbox-db.js";

export const OUTBOX_USAGE = "outbox relay [--once] [--batch-size N] | migrate | status  [--database-url URL] [--schema S] [--table T] [--json]";

const HELP = `usage: cozebus ${OUTBOX_USAGE}

  relay    publish the outbox's committed rows through the transport (COZE_MQ_TYPE: nats or pulsar),
           in order per key, with ce-id = Nats-Msg-Id = the row's event id, and mark them sent; until
           SIGTERM or Ctrl-C (the batch in progress is published and marked first); several may run.
           --once: publish what is due now, then exit (1 when rows are left unsent, with why)
  migrate  create the inbox and outbox tables when missing (migrate() of @cozebus/postgres / @cozebus/mysql)
  status   unsent, failing and sent rows, and the oldest failing row's last error

  --database-url <url>  the database (overrides DATABASE_URL): postgres://... (@cozebus/postgres) or
                        mysql://... / mariadb://... (@cozebus/mysql, MySQL 8 / MariaDB 10.6+)
  --schema <s>          schema of the tables (PostgreSQL, default public; MySQL: the database, default the URL's)
  --table <t>           the outbox table (default cozebus_outbox)
  --batch-size <n>      rows per batch (default 100)
  --server, --mq-type   as for every command (NATS_* / PULSAR_* variables apply)
  --json                one JSON object: the counts

exit codes: 0 ok, 1 failed (database or broker unreachable; --once: rows left unsent), 2 bad input (no URL, no table)
`;

const say = (m: string): void => void process.stderr.write(`cozebus outbox: ${m}\n`);

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw usageError(`--${name} needs a positive integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

export async function outboxCommand(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      once: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      "database-url": { type: "string" },
      schema: { type: "string" },
      table: { type: "string" },
      "batch-size": { type: "string" },
      server: { type: "string" },
      "mq-type": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [sub, ...rest] = positionals;
  if (sub === undefined || rest.length > 0 || !["relay", "migrate", "status"].includes(sub)) throw usageError(`usage: cozebus ${OUTBOX_USAGE}`);
  if (values.once && sub !== "relay") throw usageError("--once applies to cozebus outbox relay only");
  const mqType = values["mq-type"];
  if (mqType !== undefined && mqType !== "nats" && mqType !== "pulsar") throw usageError(`--mq-type must be nats or pulsar, got ${JSON.stringify(mqType)}`);
  const batchSize = positiveInt("batch-size", values["batch-size"]);
  const db = await openOutboxDatabase({ url: values["database-url"], env, schema: values.schema, table: values.table });
  try {
    if (sub === "migrate") {
      await db.migrate();
      const backlog = await db.backlog();
      process.stdout.write(values.json ? `${JSON.stringify({ migrated: true, dialect: db.dialect, ...backlog })}\n` : `outbox and inbox tables are in place (${db.dialect}; ${backlog.unsent} unsent row(s))\n`);
      return 0;
    }
    if (sub === "status") {
      const backlog = await db.backlog();
      process.stdout.write(values.json ? `${JSON.stringify(backlog)}\n` : renderBacklog(backlog));
      return 0;
    }
    await db.check();
    const flags: GlobalFlags = { json: values.json, ...(values.server !== undefined ? { server: values.server } : {}), ...(mqType !== undefined ? { mqType } : {}) };
    return await relay(db, flags, { once: values.once, json: values.json, ...(batchSize !== undefined ? { batchSize } : {}) });
  } finally {
    await db.end();
  }
}

interface RelayFlags {
  readonly once: boolean;
  readonly json: boolean;
  readonly batchSize?: number;
}

async function relay(db: OutboxDatabase, flags: GlobalFlags, o: RelayFlags): Promise<number> {
  const connection = await connectTransport(flags);
  let duplicates = 0;
  const errors = new Map<string, number>();
  const relay = db.relay({
    transport: connection.transport,
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
    once: o.once,
    onPublished: (receipt) => {
      if (receipt.duplicate) duplicates++;
    },
    onError: (err) => {
      // One line per distinct failure per progress interval: a deleted stream fails every row the same way.
      const key = err.message.replace(/outbox event \S+ (was not published \(attempt \d+; )?/, "outbox event(s) not published (");
      errors.set(key, (errors.get(key) ?? 0) + 1);
    },
  });
  const flushErrors = (): void => {
    for (const [message, n] of errors) say(n > 1 ? `${message} (x${n})` : message);
    errors.clear();
  };
  say(`relaying ${db.dialect} ${db.table} to ${connection.type}${o.once ? " (--once)" : "; SIGTERM or Ctrl-C stops it after the batch in progress"}`);

  let signalled = false;
  let reported = 0;
  const progress = (): void => {
    flushErrors();
    if (relay.stats.published === reported) return;
    say(`published ${relay.stats.published - reported} (total ${relay.stats.published})`);
    reported = relay.stats.published;
  };
  let wake: () => void = () => undefined;
  const stop = (): void => {
    signalled = true;
    wake();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  const timer = setInterval(progress, 1000);
  try {
    if (o.once) {
      // Batches until one publishes nothing: every due row is out, or each remaining key waits on a failed row.
      while (!signalled && (await relay.flush()) > 0);
    } else {
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (signalled) resolve();
      });
    }
    // The batch in progress publishes and marks its rows before this returns.
    await relay.stop();
  } finally {
    process.off("SIGTERM", stop);
    process.off("SIGINT", stop);
    clearInterval(timer);
  }
  flushErrors();
  await connection.close();
  const backlog = await db.backlog().catch(() => undefined);
  const summary = { published: relay.stats.published, duplicates, failed: relay.stats.failed, batches: relay.stats.batches, ...(backlog ? { unsent: backlog.unsent } : {}) };
  process.stdout.write(
    o.json
      ? `${JSON.stringify(summary)}\n`
      : `published ${summary.published} event(s) in ${summary.batches} batch(es)${duplicates > 0 ? `, ${duplicates} already stored (same ce-id, dropped by the broker)` : ""}; ${summary.failed} failed attempt(s)${backlog ? `; ${backlog.unsent} row(s) unsent` : ""}\n`,
  );
  if (o.once && !signalled && backlog && backlog.unsent > 0) {
    throw new CliError(`${backlog.unsent} outbox row(s) left unsent${backlog.failing > 0 ? `, ${backlog.failing} failing (last error: ${backlog.lastError ?? "unknown"})` : " (enqueued meanwhile, or waiting for a retry)"}; they stay and a relay publishes them later`, 1);
  }
  return 0;
}

function renderBacklog(b: Backlog): string {
  const lines = [`unsent ${b.unsent} (failing ${b.failing}), sent and not yet cleaned up ${b.sent}`];
  if (b.lastError !== undefined) lines.push(`  oldest failing row's last error: ${b.lastError}`);
  return `${lines.join("\n")}\n`;
}
