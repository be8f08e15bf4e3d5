import type pg from "pg";
import { tables, type TableOptions } from "./names.js";

/** The DDL `migrate()` runs, for your own migration tool. Idempotent (IF NOT EXISTS). */
export function migrationSql(options: TableOptions = {}): string {
  const t = tables(options);
  return `
CREATE SCHEMA IF NOT EXISTS "${t.schema}";

-- The inbox: one row per (group, event id) being handled ('claimed', with a lease) or handled ('done').
-- A row counts only until expires_at (the retention); purgeExpired() deletes the rest.
CREATE TABLE IF NOT EXISTS ${t.inbox} (
  consumer_group text NOT NULL,
  event_id       text NOT NULL,
  state          text NOT NULL CHECK (state IN ('claimed', 'done')),
  token          text,
  lease_until    timestamptz,
  expires_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, event_id)
);
CREATE INDEX IF NOT EXISTS "${t.inboxName}_expires" ON ${t.inbox} (expires_at);

-- The outbox: events written in the caller's transaction, published by a relay in seq order per ordering_key.
CREATE TABLE IF NOT EXISTS ${t.outbox} (
  seq             bigserial PRIMARY KEY,
  event_id        text NOT NULL UNIQUE,
  ordering_key    text NOT NULL,
  domain          text NOT NULL,
  template        text NOT NULL,
  fields          jsonb NOT NULL,
  data            bytea NOT NULL,
  attributes      jsonb NOT NULL,
  qos             text NOT NULL CHECK (qos IN ('at-most-once', 'at-least-once')),
  ttl_ms          integer,
  deliver_at      timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text,
  sent_at         timestamptz
);
CREATE INDEX IF NOT EXISTS "${t.outboxName}_pending" ON ${t.outbox} (seq) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS "${t.outboxName}_pending_key" ON ${t.outbox} (ordering_key, seq) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS "${t.outboxName}_sent" ON ${t.outbox} (sent_at) WHERE sent_at IS NOT NULL;
`;
}

/**
 * Creates the inbox and outbox tables (and the schema) when missing. Safe to
 * run at every start and from several processes at once (serialized by an
 * advisory lock).
 */
export async function migrate(pool: pg.Pool, options: TableOptions = {}): Promise<void> {
  const sql = migrationSql(options);
  const client = await pool.connect();
  try {
    // CREATE ... IF NOT EXISTS still races on the catalog when two processes run it at once.
    await client.query("SELECT pg_advisory_lock(hashtext('cozebus.migrate'))");
    try {
      await client.query(sql);
    } finally {
      await client.query("SELECT pg_advisory_unlock(hashtext('cozebus.migrate'))");
    }
  } finally {
    client.release();
  }
}
