/**
 * The seam between the console's pages and a broker: what each page reads
 * or does, in the broker's words but not with its client's types. The
 * pages render these; nats-source.ts and pulsar-source.ts fill them in.
 * The catalogue is not here: it is the schemas', whatever the broker.
 */

/** A value this broker does not have: the page says so, and why, instead of showing 0. */
export interface Missing {
  readonly missing: string;
}
export type Maybe<T> = T | Missing;
export const missing = (why: string): Missing => ({ missing: why });
export const isMissing = (v: unknown): v is Missing => typeof v === "object" && v !== null && "missing" in v;

/** Whether a stream or topic is what the schemas want. */
export type SchemaMatch =
  | { readonly kind: "matches"; readonly text?: string }
  | { readonly kind: "differs"; readonly differences: readonly string[]; readonly fix: string }
  | { readonly kind: "other"; readonly text: string };

/** One stream (NATS) or topic (Pulsar). */
export interface StreamRow {
  readonly name: string;
  readonly subjects: readonly string[];
  readonly schema: SchemaMatch;
  readonly messages: Maybe<number>;
  readonly bytes: Maybe<number>;
  /** How far it goes: NATS the first..last sequence; Pulsar the backlog of its most-behind subscription. */
  readonly depth: Maybe<string | number>;
  readonly last: Maybe<string>;
  readonly consumers: number;
  /** Lines of limits (retention, sizes, ...). */
  readonly limits: readonly string[];
  /** Lines about replication; undefined: a single server. */
  readonly cluster: readonly string[] | undefined;
}

export interface StreamsView {
  /** Column titles that differ from the NATS ones ("topic" for "stream", ...). */
  readonly titles: Readonly<Record<"name" | "subjects" | "messages" | "bytes" | "depth" | "last" | "consumers", string>>;
  /** Said above the table: what the numbers mean on this broker. */
  readonly note: string | undefined;
  /** Said instead of the table when there is nothing. */
  readonly empty: string;
  readonly rows: readonly StreamRow[];
  /** What the schemas want that is not there (Pulsar: topics not created yet). */
  readonly absent: readonly string[];
}

/** One group's consumer (NATS durable) or subscription (Pulsar) on one stream or topic. */
export interface ConsumerRow {
  readonly group: string;
  readonly container: string;
  readonly name: string;
  readonly filter: Maybe<string>;
  /** Not given to the group yet (NATS num_pending; Pulsar msgBacklog, which counts given-but-unacked too). */
  readonly lag: number;
  readonly ackPending: number;
  readonly redelivered: Maybe<number>;
  readonly waiting: Maybe<number | string>;
  readonly delivered: Maybe<number>;
  readonly ackWait: Maybe<string>;
  readonly maxDeliver: Maybe<number>;
}

export interface ConsumersView {
  readonly titles: Readonly<Record<"container" | "name" | "lag" | "waiting" | "delivered", string>>;
  readonly note: string;
  readonly empty: string;
  readonly rows: readonly ConsumerRow[];
}

/** A dead letter, whichever broker kept it. */
export interface Letter {
  /** What URLs and forms carry (`5` on NATS, `workflow/123:4` on Pulsar). */
  readonly id: string;
  /** How pages name it (`#5`, `workflow/123:4`). */
  readonly label: string;
  /** The stream or topic that keeps it (`COZE_DLQ`, `coze.workflow-DLQ`). */
  readonly keptIn: string;
  readonly time: Date | undefined;
  readonly reason: string;
  readonly deliveries: number | undefined;
  readonly eventType: string | undefined;
  readonly eventId: string | undefined;
  readonly subject: string | undefined;
  /** Short: `COZE_WORKFLOW#3`, or the topic. */
  readonly origin: string;
  /** Long: `stream COZE_WORKFLOW, seq 3`, or `topic persistent://...`. */
  readonly originDetail: string;
  readonly consumer: string | undefined;
  readonly error: string | undefined;
  readonly data: Uint8Array;
  /** Headers (NATS) or properties (Pulsar). */
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
}

/** What one replay or delete did to one dead letter. */
export type Outcome =
  | { readonly id: string; readonly label: string; readonly outcome: "replayed"; readonly to: string; readonly detail: string; readonly duplicate: boolean }
  | { readonly id: string; readonly label: string; readonly outcome: "deleted" }
  | { readonly id: string; readonly label: string; readonly outcome: "gone" }
  | { readonly id: string; readonly label: string; readonly outcome: "failed"; readonly error: string };

export interface DeadLetterStore {
  /** Where they are kept, for sentences ("4 stored in COZE_DLQ"). */
  readonly where: string;
  /** What the consumer is called here ("consumer", "subscription"). */
  readonly consumerNoun: string;
  /** A dead letter id from a URL or form, normalised; undefined when it cannot be one. */
  parseId(text: string): string | undefined;
  /** What an id looks like, for the error when parseId refuses one. */
  readonly idShape: string;
  /** How pages name the dead letter of this id (Letter.label). */
  label(id: string): string;
  /** The oldest dead letters, up to limit, of this reason when given. */
  list(options: { readonly limit: number; readonly reason?: string | undefined }): Promise<Letter[]>;
  count(): Promise<number>;
  get(id: string): Promise<Letter | undefined>;
  /**
   * Publishes it again to where it came from, then removes it; one that is
   * not there (replayed or deleted before) is "gone" and nothing is published.
   */
  replay(id: string): Promise<Outcome>;
  /** Removes it without publishing; "gone" when it is not there. */
  remove(id: string): Promise<Outcome>;
}

/** An event seen by the live tail. */
export interface TailMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly event?: { readonly type: string; readonly id: string; readonly time?: Date | undefined } | undefined;
}

export interface Tail {
  /** What it listens on, in the broker's words. */
  readonly listening: string;
  stop(): Promise<void>;
}

export interface ConsoleSource {
  /** Which server, in the header of every page. */
  readonly label: string;
  readonly streamsTitle: string;
  streams(): Promise<StreamsView>;
  consumers(): Promise<ConsumersView>;
  readonly deadLetters: DeadLetterStore;
  /** Said on the tail page: how the tail listens and what it takes from the groups. */
  readonly tailNote: string;
  readonly tailPlaceholder: string;
  /**
   * Starts listening on an event (as the catalogue names it, or its type)
   * or a pattern; resolves once nothing published after it is missed.
   * Rejects with an Error whose message the page shows.
   */
  tail(ref: string, onMessage: (m: TailMessage) => void): Promise<Tail>;
  /** Lets in-flight work finish, then closes; never throws. */
  close(): Promise<void>;
}
