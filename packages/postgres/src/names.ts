import { sqlIdentifier } from "@cozebus/core/outbox";

/** Where the inbox and outbox tables live. */
export interface TableOptions {
  /** Schema of the tables (default `public`). */
  readonly schema?: string;
  /** Default `cozebus_inbox`. */
  readonly inboxTable?: string;
  /** Default `cozebus_outbox`. */
  readonly outboxTable?: string;
}

export interface Tables {
  readonly schema: string;
  /** Quoted, schema-qualified: safe to put in SQL. */
  readonly inbox: string;
  readonly outbox: string;
  /** Bare names, for index names. */
  readonly inboxName: string;
  readonly outboxName: string;
  /** The NOTIFY channel the outbox wakes relays on. */
  readonly channel: string;
}

/** PostgreSQL's identifier limit: a longer name would be cut silently, and two tables could end up the same. */
const MAX_IDENTIFIER = 63;

const ident = (option: string, value: string): string => sqlIdentifier(option, value, MAX_IDENTIFIER);

export function tables(options: TableOptions = {}): Tables {
  const schema = ident("schema", options.schema ?? "public");
  const inboxName = ident("inboxTable", options.inboxTable ?? "cozebus_inbox");
  const outboxName = ident("outboxTable", options.outboxTable ?? "cozebus_outbox");
  return {
    schema,
    inbox: `"${schema}"."${inboxName}"`,
    outbox: `"${schema}"."${outboxName}"`,
    inboxName,
    outboxName,
    channel: `${schema}_${outboxName}`.slice(0, 63),
  };
}
