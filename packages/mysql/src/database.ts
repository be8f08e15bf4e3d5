import mysql from "mysql2/promise";
import { ConfigError, CozebusError } from "@cozebus/core";
import { rows } from "./db.js";
import type { TableOptions } from "./names.js";
import { tables } from "./names.js";

export interface OpenDatabaseOptions {
  /** A connection string (`mysql://user:password@host:3306/db`); wins over the environment. */
  readonly url?: string;
  /** Environment to read DATABASE_URL from (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** What to name in the error when no URL is set (default `DATABASE_URL`). */
  readonly variable?: string;
  /** Pool size (default 4). */
  readonly max?: number;
}

/**
 * A mysql2 pool on `url`, else DATABASE_URL; a ConfigError naming the
 * variable when neither is set or the URL is not a mysql:// (or
 * mariadb://) one. Lets callers that must not import mysql2 themselves (the
 * CLI) open one.
 */
export function openDatabase(options: OpenDatabaseOptions = {}): mysql.Pool {
  const variable = options.variable ?? "DATABASE_URL";
  const url = (options.url ?? (options.env ?? process.env)["DATABASE_URL"])?.trim();
  if (url === undefined || url === "") throw new ConfigError(variable, "is not set: give the MySQL / MariaDB database holding the outbox, e.g. mysql://user:password@127.0.0.1:3306/app");
  if (!/^(mysql|mariadb):\/\//i.test(url)) throw new ConfigError(variable, `is not a mysql:// or mariadb:// URL (it starts with ${JSON.stringify(url.slice(0, 12))})`);
  return mysql.createPool({ uri: url.replace(/^mariadb:/i, "mysql:"), connectionLimit: options.max ?? 4, connectTimeout: 5000 });
}

/** The database cannot be reached, or refused the credentials. */
export class DatabaseUnavailableError extends CozebusError {
  constructor(cause: unknown) {
    super("CONNECT_FAILED", `MySQL cannot be reached or refused the connection (${cause instanceof Error ? cause.message : String(cause)}): check DATABASE_URL, that the server runs and the credentials`, { cause });
  }
}

/** The outbox table is not there: nothing was published. */
export class OutboxTableMissingError extends CozebusError {
  constructor(readonly table: string) {
    super("CONFIG_INVALID", `the outbox table ${table} does not exist in this database: create it with "cozebus outbox migrate" (or migrate() / migrationStatements() of @cozebus/mysql in your own migration tool), or pass the database and table your services use`);
  }
}

/** Unsent rows of the outbox. */
export interface OutboxBacklog {
  readonly unsent: number;
  readonly failing: number;
  readonly sent: number;
  readonly lastError: string | undefined;
}

/** Checks that the database answers and the outbox table exists. */
export async function checkOutbox(pool: mysql.Pool, options: TableOptions = {}): Promise<void> {
  const name = tables(options).outboxName;
  let found: Array<{ db: string | null; n: number | string }>;
  try {
    found = await rows(pool, "SELECT DATABASE() AS db, (SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?) AS n", [options.database ?? null, name]);
  } catch (err) {
    throw new DatabaseUnavailableError(err);
  }
  if (Number(found[0]?.n ?? 0) === 0) throw new OutboxTableMissingError(`${options.database ?? found[0]?.db ?? "(no database selected)"}.${name}`);
}

/** Counts the outbox's rows by state (checks the table first). */
export async function outboxBacklog(pool: mysql.Pool, options: TableOptions = {}): Promise<OutboxBacklog> {
  await checkOutbox(pool, options);
  const t = tables(options).outbox;
  const [row] = await rows<{ unsent: string | number | null; failing: string | number | null; sent: string | number | null; last_error: string | null }>(
    pool,
    `SELECT SUM(sent_at IS NULL) AS unsent, SUM(sent_at IS NULL AND attempts > 0) AS failing, SUM(sent_at IS NOT NULL) AS sent,
            (SELECT last_error FROM ${t} WHERE sent_at IS NULL AND attempts > 0 ORDER BY seq LIMIT 1) AS last_error
     FROM ${t}`,
  );
  return { unsent: Number(row?.unsent ?? 0), failing: Number(row?.failing ?? 0), sent: Number(row?.sent ?? 0), lastError: row?.last_error ?? undefined };
}
