/**
 * This package's harness for the store conformance suites of
 * @cozebus/testing/stores: a throwaway MariaDB, mysql2 pools, the stores,
 * and the child-process relays in fixtures/.
 */
import { fileURLToPath } from "node:url";
import mysql from "mysql2/promise";
import { silentLogger, startMariadb } from "@cozebus/testing";
import type { InboxHarness, OutboxHarness, SqlDialect, StoreDatabase, StoreRow } from "@cozebus/testing/stores";
import { openBus } from "@cozebus/nats";
import { MysqlInboxStore, MysqlOutbox, migrate, startOutboxRelay, withTransaction } from "../src/index.js";

async function startDatabase(): Promise<StoreDatabase> {
  const db = await startMariadb();
  return { url: db.url, shutDown: () => db.kill("SIGTERM"), start: () => db.start(), stop: () => db.stop() };
}

const dialect: SqlDialect<mysql.Pool, mysql.PoolConnection> = {
  pool: (url, size) => mysql.createPool({ uri: url, connectionLimit: size }),
  end: (pool) => pool.end(),
  migrate: (pool) => migrate(pool),
  async query(on, sql, values = []) {
    const [rows] = await (on as Pick<mysql.Connection, "query">).query(sql, [...values]);
    // A statement that returns no rows gives its ResultSetHeader instead.
    return Array.isArray(rows) ? (rows as StoreRow[]) : [];
  },
  withTransaction,
};

export const inboxHarness: InboxHarness<mysql.Pool, mysql.PoolConnection> = {
  ...dialect,
  startDatabase,
  store: (pool) => new MysqlInboxStore(pool),
  // ER_LOCK_DEADLOCK: two completeIn on an id with no row take gap locks under REPEATABLE READ.
  isDeadlock: (err) => (err as { errno?: number }).errno === 1213,
};

export const outboxHarness: OutboxHarness<mysql.Pool, mysql.PoolConnection> = {
  ...dialect,
  startDatabase,
  outbox: () => new MysqlOutbox(),
  relay: (pool, options) => startOutboxRelay({ pool, ...options }),
  bus: (natsUrl) => openBus({ servers: natsUrl, env: {}, logger: silentLogger }),
  scripts: {
    crash: fileURLToPath(new URL("./fixtures/relay-crash.mjs", import.meta.url)),
    chaos: fileURLToPath(new URL("./fixtures/outbox-relay.mjs", import.meta.url)),
  },
  features: { wakesOnCommit: false },
  why: { wakesOnCommit: "MySQL has no LISTEN/NOTIFY: an idle relay finds a commit at its next poll (pollIntervalMs, 250 ms by default)" },
};
