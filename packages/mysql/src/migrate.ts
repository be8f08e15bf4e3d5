import type mysql from "mysql2/promise";
import { tables, type TableOptions } from "./names.js";

/**
 * The DDL `migrate()` runs, one statement per entry, for your own migration
 * tool. Idempotent (IF NOT EXISTS). Ids and keys compare byte for byte
 * (utf8mb4_bin): under the default case-insensitive collation, two event
 * ids differing only in case would count as one.
 */
export function migrationStatements(options: TableOptions = {}): string[] {
  const t = tables(options);
  return [
    // One row per (group, event id) being handled ('claimed', with a lease) or handled ('done'); counts until expires_at.
    `CREATE TABLE IF NOT EXISTS ${t.inbox} (
  consumer_group VARCHAR(255) NOT NULL,
  event_id       VARCHAR(255) NOT NULL,
  state          VARCHAR(8) NOT NULL CHECK (state IN ('claimed', 'done')),
  token          CHAR(36) NULL,
  lease_until    DATETIME(3) NULL,
  expires_at     DATETIME(3) NOT NULL,
  updated_at     DATETIME(3) NOT NULL,
  PRIMARY KEY (consumer_group, event_id),
  KEY ${t.inboxName}_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
    // Events written in the caller's transaction, published by a relay in seq order per ordering key.
    // key_hash (SHA-256 of ordering_key) is what is indexed and compared: a key may be longer than an index allows.
    // Times are UTC (UTC_TIMESTAMP(3)); deliver_at is epoch milliseconds, so no session time zone touches it.
    `CREATE TABLE IF NOT EXISTS ${t.outbox} (
  seq             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  event_id        VARCHAR(255) NOT NULL,
  ordering_key    TEXT NOT NULL,
  key_hash        BINARY(32) NOT NULL,
  domain          VARCHAR(255) NOT NULL,
  template        VARCHAR(1024) NOT NULL,
  fields          LONGTEXT NOT NULL,
  data            LONGBLOB NOT NULL,
  attributes      LONGTEXT NOT NULL,
  qos             VARCHAR(16) NOT NULL CHECK (qos IN ('at-most-once', 'at-least-once')),
  ttl_ms          INT NULL,
  deliver_at_ms   BIGINT NULL,
  created_at      DATETIME(3) NOT NULL,
  attempts        INT NOT NULL DEFAULT 0,
  next_attempt_at DATETIME(3) NOT NULL,
  last_error      TEXT NULL,
  sent_at         DATETIME(3) NULL,
  UNIQUE KEY ${t.outboxName}_event_id (event_id),
  KEY ${t.outboxName}_pending (sent_at, seq),
  KEY ${t.outboxName}_pending_key (key_hash, sent_at, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  ];
}

/**
 * Creates the inbox and outbox tables when missing. Safe at every start and
 * from several processes at once (serialized by GET_LOCK).
 */
export async function migrate(pool: mysql.Pool, options: TableOptions = {}): Promise<void> {
  const conn = await pool.getConnection();
  try {
    await conn.query("SELECT GET_LOCK('cozebus.migrate', 60)");
    try {
      for (const statement of migrationStatements(options)) await conn.query(statement);
    } finally {
      await conn.query("SELECT RELEASE_LOCK('cozebus.migrate')");
    }
  } finally {
    conn.release();
  }
}
