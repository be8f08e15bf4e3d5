/**
 * What a SQL store package hands the store conformance suites: its database
 * server, its driver's pool and transaction, and its stores, as plain
 * objects. The suites never import a driver (`pg`, `mysql2`) or a transport
 * package: every dialect object comes in through these interfaces, typed
 * against the core store contracts (`InboxStore`, `OutboxRelay`,
 * `RelayOptions`).
 */
import type { InboxKey, InboxStore, InboxTimes } from "@cozebus/core/inbox";
import type { OutboxRelay, RelayOptions } from "@cozebus/core/outbox";
import type { OutgoingEvent, Transport } from "@cozebus/core/transport";

/** A throwaway database server (wrap `startPostgres()` / `startMariadb()`). */
export interface StoreDatabase {
  readonly url: string;
  /**
   * Shuts the server down keeping its data, so that every session ends at
   * once (PostgreSQL: SIGINT, a fast shutdown; a smart one would wait for the
   * pools' idle sessions. MariaDB: SIGTERM).
   */
  shutDown(): Promise<void>;
  /** Starts it again after `shutDown()`, same port and data. */
  start(): Promise<void>;
  /** Stops it and deletes its data. */
  stop(): Promise<void>;
}

/** A row as the dialect's driver returns it (column name to value). */
export type StoreRow = Readonly<Record<string, unknown>>;

/**
 * The driver, in the few operations the suites need. `Pool` is the driver's
 * pool, `Tx` a connection inside a transaction. SQL given to `query` uses `?`
 * placeholders and only what both dialects accept (the harness rewrites the
 * placeholders for its driver).
 */
export interface SqlDialect<Pool, Tx> {
  /** A pool of its own connections: one replica of a service. */
  pool(url: string, size: number): Pool;
  /** Ends a pool (a replica that is gone). */
  end(pool: Pool): Promise<void>;
  /** The package's `migrate()`. */
  migrate(pool: Pool): Promise<void>;
  /** One statement on a pool or in a transaction; its rows (none for statements that return none). */
  query(on: Pool | Tx, sql: string, values?: readonly unknown[]): Promise<StoreRow[]>;
  /** The package's `withTransaction()`: BEGIN, `fn`, COMMIT, or ROLLBACK when `fn` throws. */
  withTransaction<T>(pool: Pool, fn: (tx: Tx) => Promise<T>): Promise<T>;
}

/** What marking an event done in the caller's transaction needs. */
export type CompleteInKey = InboxKey & Pick<InboxTimes, "retentionMs">;

/**
 * A SQL inbox store: the core `InboxStore`, plus what both SQL stores offer
 * on top (`PostgresInboxStore`, `MysqlInboxStore`).
 */
export interface TransactionalInboxStore<Tx> extends InboxStore {
  isDone(key: InboxKey): Promise<boolean>;
  purgeExpired(limit?: number): Promise<number>;
  /** BEGIN; mark `key` done (AlreadyHandledError when it was); `fn(tx)`; COMMIT. */
  transaction<T>(key: CompleteInKey, fn: (tx: Tx) => Promise<T>): Promise<T>;
}

export interface InboxHarness<Pool, Tx> extends SqlDialect<Pool, Tx> {
  startDatabase(): Promise<StoreDatabase>;
  store(pool: Pool): TransactionalInboxStore<Tx>;
  /** Whether the database ended this transaction as a deadlock's victim (MySQL errno 1213, PostgreSQL 40P01). */
  isDeadlock(err: unknown): boolean;
}

/** A SQL outbox (`PostgresOutbox`, `MysqlOutbox`): writes events in the caller's transaction. */
export interface SqlOutbox<Tx> {
  enqueue(tx: Tx, event: OutgoingEvent, options?: { readonly key?: string }): Promise<{ readonly id: string }>;
  enqueueMany(tx: Tx, events: readonly OutgoingEvent[], keys?: readonly (string | undefined)[]): Promise<ReadonlyArray<{ readonly id: string }>>;
}

/** What differs between dialects' relays; a case needing a missing one is skipped, with why in its name. */
export interface OutboxFeatures {
  /** A commit wakes an idle relay at once, long before its poll interval (PostgreSQL: LISTEN/NOTIFY). */
  readonly wakesOnCommit: boolean;
}

/** A message as the outbox suites read it back from the JetStream stream. */
export interface StoreSuiteStoredMessage {
  readonly header: { get(name: string): string };
  readonly data: Uint8Array;
}

/**
 * The JetStream calls the outbox suites make on the NATS connection the
 * harness opens: a `JetStream` of `@cozebus/nats` (`await bus.jetstream()`)
 * is one. The suites relay to a real stream because what they check is the
 * broker's side: each ce-id stored once, the copy of a re-publish dropped
 * by its Nats-Msg-Id.
 */
export interface StoreSuiteJetStream {
  readonly jsm: {
    readonly streams: {
      info(stream: string): Promise<{ readonly state: { readonly first_seq: number; readonly last_seq: number; readonly messages: number } }>;
      getMessage(stream: string, query: { readonly seq: number }): Promise<StoreSuiteStoredMessage | null>;
      delete(stream: string): Promise<boolean>;
    };
  };
  /** The stream of a domain over `subjects` (passed on to `ensureStream` as it is). */
  domainStream(domain: string, subjects: string[]): unknown;
  ensureStream(spec: unknown): Promise<unknown>;
}

/** A NATS connection (a `Bus` of `@cozebus/nats`). */
export interface StoreSuiteBus {
  readonly transport: Transport;
  jetstream(): Promise<StoreSuiteJetStream>;
  close(): Promise<void>;
}

export interface OutboxHarness<Pool, Tx> extends SqlDialect<Pool, Tx> {
  startDatabase(): Promise<StoreDatabase>;
  outbox(): SqlOutbox<Tx>;
  /** The package's `startOutboxRelay` on `pool`, with these options (and the dialect's defaults for the rest). */
  relay(pool: Pool, options: RelayOptions): OutboxRelay;
  /** Opens a connection to the suite's nats-server (`openBus` of `@cozebus/nats`, quiet logger). */
  bus(natsUrl: string): Promise<StoreSuiteBus>;
  /**
   * Child-process relays, each run as `node <script> <database url> <nats url>` (see the fixtures of
   * @cozebus/postgres and @cozebus/mysql).
   */
  readonly scripts: {
    /** Publishes each row for real, prints `published <ce-id>`, then never returns (never marks the batch sent). */
    readonly crash: string;
    /**
     * A relay with `batchSize: 50` and sent rows kept, whose publish prints `published <ce-id> <duplicate>`
     * after each broker ack and returns 5 ms later; prints `ready` once started.
     */
    readonly chaos: string;
  };
  readonly features: OutboxFeatures;
  /** Why a feature is missing, for the skip names (default: "<name> has no <feature>"). */
  readonly why?: Partial<Record<keyof OutboxFeatures, string>>;
}
