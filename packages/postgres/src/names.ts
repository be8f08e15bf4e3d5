import { ConfigError } from "@cozebus/core";

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

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

function ident(option: string, value: string): string {
  if (!IDENT.test(value)) throw new ConfigError(option, `${JSON.stringify(value)} is not a plain SQL identifier (lower-case letters, digits, "_", at most 63)`);
  return value;
}

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
