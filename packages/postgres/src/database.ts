import pg from "pg";
import { ConfigError, CozebusError } from "@cozebus/core";
import { tables, type TableOptions } from "./names.js";

/** The variable the CLI and `openDatabase()` read the connection string from (the one `pg` and most tools use). */
export const DATABASE_URL = "DATABASE_URL";

export interface OpenDatabaseOptions {
  /** A connection string (`postgres://user:password@host:port/db`); wins over the environment. */
  readonly url?: string;
  /** Environment to read DATABASE_URL from (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where to say which setting supplied no URL, in the error (default `DATABASE_URL`; the CLI names its flag too). */
  readonly variable?: string;
  /** Pool size (default 4: one batch connection, the LISTEN connection, headroom). */
  readonly max?: number;
  /** How long a connection attempt may take (default 5000 ms). */
  readonly connectTimeoutMs?: number;
}

/**
 * A `pg.Pool` on `url`, else DATABASE_URL; a ConfigError naming the
 * variable when neither is set or the URL is not a postgres:// one. Lets
 * callers that must not import `pg` themselves (the CLI) open one.
 * Errors of idle connections (the server restarted) are dropped: the pool
 * replaces them, and the next query reports.
 */
export function openDatabase(options: OpenDatabaseOptions = {}): pg.Pool {
  const variable = options.variable ?? DATABASE_URL;
  const url = options.url ?? (options.env ?? process.env)[DATABASE_URL];
  if (url === undefined || url.trim() === "") {
    throw new ConfigError(variable, "is not set: give the PostgreSQL database holding the outbox, e.g. postgres://user:password@127.0.0.1:5432/app");
  }
  if (!/^postgres(ql)?:\/\//i.test(url.trim())) {
    throw new ConfigError(variable, `is not a postgres:// or postgresql:// URL (it starts with ${JSON.stringify(url.trim().slice(0, 12))})`);
  }
  const pool = new pg.Pool({ connectionString: url.trim(), max: options.max ?? 4, connectionTimeoutMillis: options.connectTimeoutMs ?? 5000 });
  pool.on("error", () => undefined);
  return pool;
}

/** The database cannot be reached, or refused the credentials. */
export class DatabaseUnavailableError extends CozebusError {
  constructor(where: string, cause: unknown) {
    super("CONNECT_FAILED", `PostgreSQL at ${where} cannot be reached or refused the connection (${cause instanceof Error ? cause.message : String(cause)}): check DATABASE_URL, that the server runs and the credentials`, { cause });
  }
}

/** The outbox table is not there: nothing was published. */
export class OutboxTableMissingError extends CozebusError {
  constructor(readonly table: string) {
    super(
      "CONFIG_INVALID",
      `the outbox table ${table} does not exist in this database: create it with "cozebus outbox migrate" (or migrate() / migrationSql() of @cozebus/postgres in your own migration tool), or pass the schema and table your services use`,
    );
  }
}

/** host:port/db of a pool's connection string, without the password, for messages. */
function whereOf(pool: pg.Pool): string {
  const o = pool.options;
  return `${o.host ?? "localhost"}:${o.port ?? 5432}/${o.database ?? ""}`;
}

/** Unsent rows of the outbox, for a relay's progress and `cozebus outbox status`. */
export interface OutboxBacklog {
  /** Rows not yet published. */
  readonly unsent: number;
  /** Of those, rows whose publish failed at least once (waiting for their retry). */
  readonly failing: number;
  /** Rows published and not yet cleaned up. */
  readonly sent: number;
  /** The last publish error of the oldest failing row, when there is one. */
  readonly lastError: string | undefined;
}

/**
 * Checks that the database answers and the outbox table exists (before a
 * relay starts, so a missing table is one clear error instead of a report
 * per poll). Throws DatabaseUnavailableError or OutboxTableMissingError.
 */
export async function checkOutbox(pool: pg.Pool, options: TableOptions = {}): Promise<void> {
  const t = tables(options);
  let found: boolean;
  try {
    const r = await pool.query<{ found: boolean }>("SELECT to_regclass($1) IS NOT NULL AS found", [t.outbox]);
    found = r.rows[0]?.found === true;
  } catch (err) {
    throw new DatabaseUnavailableError(whereOf(pool), err);
  }
  if (!found) throw new OutboxTableMissingError(`${t.schema}.${t.outboxName}`);
}

/** Counts the outbox's rows by state (checks the table first). */
export async function outboxBacklog(pool: pg.Pool, options: TableOptions = {}): Promise<OutboxBacklog> {
  await checkOutbox(pool, options);
  const t = tables(options);
  const r = await pool.query<{ unsent: number; failing: number; sent: number; last_error: string | null }>(
    `SELECT count(*) FILTER (WHERE sent_at IS NULL)::int AS unsent,
            count(*) FILTER (WHERE sent_at IS NULL AND attempts > 0)::int AS failing,
            count(*) FILTER (WHERE sent_at IS NOT NULL)::int AS sent,
            (SELECT last_error FROM ${t.outbox} WHERE sent_at IS NULL AND attempts > 0 ORDER BY seq LIMIT 1) AS last_error
     FROM ${t.outbox}`,
  );
  const row = r.rows[0]!;
  return { unsent: row.unsent, failing: row.failing, sent: row.sent, lastError: row.last_error ?? undefined };
}
