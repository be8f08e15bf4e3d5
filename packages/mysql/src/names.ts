import { sqlIdentifier } from "@cozebus/core/outbox";

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

/** MySQL's identifier limit: a longer name is refused here, at construction, instead of by the first statement. */
const MAX_IDENTIFIER = 64;

const ident = (option: string, value: string): string => sqlIdentifier(option, value, MAX_IDENTIFIER);

export function tables(options: TableOptions = {}): Tables {
  const db = options.database === undefined ? "" : `\`${ident("database", options.database)}\`.`;
  const inboxName = ident("inboxTable", options.inboxTable ?? "cozebus_inbox");
  const outboxName = ident("outboxTable", options.outboxTable ?? "cozebus_outbox");
  return { inbox: `${db}\`${inboxName}\``, outbox: `${db}\`${outboxName}\``, inboxName, outboxName };
}
