/**
 * The outbox's database for `cozebus outbox`: the URL's scheme picks the
 * dialect (postgres:// → @cozebus/postgres, mysql:// or mariadb:// →
 * @cozebus/mysql), loaded only when chosen so every other command starts
 * without either driver. The CLI never imports a database client itself.
 */
import { ConfigError } from "@cozebus/core";
import type { Receipt, Transport } from "@cozebus/core/transport";

export interface Backlog {
  readonly unsent: number;
  readonly failing: number;
  readonly sent: number;
  readonly lastError: string | undefined;
}

export interface Relay {
  flush(): Promise<number>;
  stop(): Promise<void>;
  readonly stats: { readonly published: number; readonly failed: number; readonly batches: number };
}

export interface RelayOptions {
  readonly transport: Transport;
  readonly batchSize?: number;
  /** --once drives the batches itself: no LISTEN connection, no poll of its own. */
  readonly once: boolean;
  readonly onPublished: (receipt: Receipt) => void;
  readonly onError: (error: Error) => void;
}

export interface OutboxDatabase {
  readonly dialect: "postgres" | "mysql";
  /** schema.table (PostgreSQL) or database.table (MySQL; the connection's database when none is given), for messages. */
  readonly table: string;
  migrate(): Promise<void>;
  check(): Promise<void>;
  backlog(): Promise<Backlog>;
  relay(options: RelayOptions): Relay;
  end(): Promise<void>;
}

export interface OpenOptions {
  readonly url: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** PostgreSQL: the schema; MySQL: the database. */
  readonly schema: string | undefined;
  readonly table: string | undefined;
}

const ONCE_POLL_MS = 3_600_000;

export async function openOutboxDatabase(o: OpenOptions): Promise<OutboxDatabase> {
  const variable = o.url !== undefined ? "--database-url" : "DATABASE_URL (or --database-url)";
  const url = (o.url ?? o.env["DATABASE_URL"])?.trim();
  if (url === undefined || url === "") {
    throw new ConfigError(variable, "is not set: give the database holding the outbox, e.g. postgres://user:password@127.0.0.1:5432/app or mysql://user:password@127.0.0.1:3306/app");
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === "postgres" || scheme === "postgresql") {
    const pg = await import("@cozebus/postgres");
    const tableOptions = { ...(o.schema !== undefined ? { schema: o.schema } : {}), ...(o.table !== undefined ? { outboxTable: o.table } : {}) };
    const pool = pg.openDatabase({ url, variable });
    return {
      dialect: "postgres",
      table: `${o.schema ?? "public"}.${o.table ?? "cozebus_outbox"}`,
      migrate: () => pg.migrate(pool, tableOptions),
      check: () => pg.checkOutbox(pool, tableOptions),
      backlog: () => pg.outboxBacklog(pool, tableOptions),
      relay: (r) =>
        pg.startOutboxRelay({
          pool,
          transport: r.transport,
          ...tableOptions,
          ...(r.batchSize !== undefined ? { batchSize: r.batchSize } : {}),
          ...(r.once ? { listen: false, pollIntervalMs: ONCE_POLL_MS } : {}),
          onPublished: r.onPublished,
          onError: r.onError,
        }),
      end: () => pool.end().catch(() => undefined),
    };
  }
  if (scheme === "mysql" || scheme === "mariadb") {
    const my = await import("@cozebus/mysql");
    const tableOptions = { ...(o.schema !== undefined ? { database: o.schema } : {}), ...(o.table !== undefined ? { outboxTable: o.table } : {}) };
    const pool = my.openDatabase({ url, variable });
    return {
      dialect: "mysql",
      table: `${o.schema ?? "(the URL's database)"}.${o.table ?? "cozebus_outbox"}`,
      migrate: () => my.migrate(pool, tableOptions),
      check: () => my.checkOutbox(pool, tableOptions),
      backlog: () => my.outboxBacklog(pool, tableOptions),
      relay: (r) =>
        my.startOutboxRelay({
          pool,
          transport: r.transport,
          ...tableOptions,
          ...(r.batchSize !== undefined ? { batchSize: r.batchSize } : {}),
          ...(r.once ? { pollIntervalMs: ONCE_POLL_MS } : {}),
          onPublished: r.onPublished,
          onError: r.onError,
        }),
      end: () => pool.end().catch(() => undefined),
    };
  }
  throw new ConfigError(variable, `is neither a postgres:// nor a mysql:// (mariadb://) URL (it starts with ${JSON.stringify(url.slice(0, 12))})`);
}
