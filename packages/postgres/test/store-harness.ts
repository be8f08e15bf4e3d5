/**
 * This package's harness for the store conformance suites of
 * @cozebus/testing/stores: a throwaway PostgreSQL, pg pools, the stores, and
 * the child-process relays in fixtures/.
 */
import { fileURLToPath } from "node:url";
import pg from "pg";
import { silentLogger, startPostgres } from "@cozebus/testing";
import type { InboxHarness, OutboxHarness, SqlDialect, StoreDatabase } from "@cozebus/testing/stores";
import { openBus } from "@cozebus/nats";
import { PostgresInboxStore, PostgresOutbox, migrate, startOutboxRelay, withTransaction } from "../src/index.js";

async function startDatabase(): Promise<StoreDatabase> {
  const db = await startPostgres();
  // SIGINT is a fast shutdown: the pools' idle sessions end at once (SIGTERM would wait for them).
  return { url: db.url, shutDown: () => db.kill("SIGINT"), start: () => db.start(), stop: () => db.stop() };
}

/** The suites write `?` placeholders; PostgreSQL numbers them. */
const numbered = (sql: string): string => {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
};

const dialect: SqlDialect<pg.Pool, pg.PoolClient> = {
  pool(url, size) {
    const pool = new pg.Pool({ connectionString: url, max: size });
    pool.on("error", () => undefined); // idle clients see the server stop or restart
    return pool;
  },
  end: (pool) => pool.end(),
  migrate: (pool) => migrate(pool),
  query: async (on, sql, values = []) => (await on.query(numbered(sql), [...values])).rows as Array<Record<string, unknown>>,
  withTransaction,
};

export const inboxHarness: InboxHarness<pg.Pool, pg.PoolClient> = {
  ...dialect,
  startDatabase,
  store: (pool) => new PostgresInboxStore(pool),
  isDeadlock: (err) => (err as { code?: string }).code === "40P01",
};

export const outboxHarness: OutboxHarness<pg.Pool, pg.PoolClient> = {
  ...dialect,
  startDatabase,
  outbox: () => new PostgresOutbox(),
  relay: (pool, options) => startOutboxRelay({ pool, ...options }),
  bus: (natsUrl) => openBus({ servers: natsUrl, env: {}, logger: silentLogger }),
  scripts: {
    crash: fileURLToPath(new URL("./fixtures/relay-crash.mjs", import.meta.url)),
    chaos: fileURLToPath(new URL("./fixtures/outbox-relay.mjs", import.meta.url)),
  },
  features: { wakesOnCommit: true },
};
