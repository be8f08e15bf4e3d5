import { ConfigError } from "@cozebus/core";

const IDENT = /^[a-z_][a-z0-9_]{0,63}$/;

/** Where the inbox and outbox tables live. */
export interface TableOptions {
  /** Database (MySQL's schema) of the tables (default: the connection's). */
  readonly database?: string;
  /** Default `cozebus_inbox`. */
  readonly inboxTable?: string;
  /** Default `cozebus_outbox`. */
  readonly outboxTable?: string;
}

export interface Tables {
  /** Quoted, database-qualified when a database was given: safe to put in SQL. */
  readonly inbox: string;
  readonly outbox: string;
  readonly inboxName: string;
  readonly outboxName: string;
}

function ident(option: string, value: string): string {
  if (!IDENT.test(value)) throw new ConfigError(option, `${JSON.stringify(value)} is not a plain SQL identifier (lower-case letters, digits, "_", at most 64)`);
  return value;
}

export function tables(options: TableOptions = {}): Tables {
  const db = options.database === undefined ? "" : `\`${ident("database", options.database)}\`.`;
  const inboxName = ident("inboxTable", options.inboxTable ?? "cozebus_inbox");
  const outboxName = ident("outboxTable", options.outboxTable ?? "cozebus_outbox");
  return { inbox: `${db}\`${inboxName}\``, outbox: `${db}\`${outboxName}\``, inboxName, outboxName };
}
