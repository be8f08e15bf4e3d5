import type { Receipt, Transport } from "../port/transport.js";
import { backoffDelay, type BackoffPolicy } from "../policy/retry-policy.js";
import type { StoredEvent } from "./event.js";
import { StoredEventDecoder } from "./event.js";
import { OutboxPublishError } from "./errors.js";

/** What every outbox relay takes, whatever its database. */
export interface RelayOptions {
  readonly transport: Transport;
  /** Rows taken per batch (default 100). */
  readonly batchSize?: number;
  /** How often an idle relay looks for committed rows (the default is the dialect's). */
  readonly pollIntervalMs?: number;
  /** Backoff of a row whose publish failed (default 500 ms doubling to 60 s, jitter 0.2). No limit on attempts: rows stay until published. */
  readonly backoff?: Partial<BackoffPolicy>;
  /** Sent rows are deleted after this long (default 10 min; 0: at once after the batch). */
  readonly keepSentMs?: number;
  /** How often sent rows are cleaned up (default 60 s). */
  readonly cleanupIntervalMs?: number;
  /** Failures: a publish that failed (the row stays and is retried), a lost database connection. */
  readonly onError?: (error: Error) => void;
  /** After each published event (for metrics and tests). */
  readonly onPublished?: (receipt: Receipt) => void;
}

export interface OutboxRelay {
  /** Publishes what is due now, once (the loop does this on its own). Resolves with the number published. */
  flush(): Promise<number>;
  /** Stops taking rows, lets the batch in progress publish and mark, then closes its connections. */
  stop(): Promise<void>;
  readonly stats: { readonly published: number; readonly failed: number; readonly batches: number };
}

/** A locked row that is due, in the dialect-free terms the relay publishes by. */
export interface DueRow {
  /** The row's sequence number (a BIGINT as a string). */
  readonly seq: string;
  readonly eventId: string;
  /** The ordering key (or anything equal exactly when the keys are, such as its hash). */
  readonly key: string;
  readonly attempts: number;
  /** Decoded only when its turn comes, so a row that does not decode fails (and is retried) alone, not the whole batch. */
  readonly stored: () => StoredEvent;
}

/** A row whose publish failed: what the dialect writes back so it is retried after `delayMs`. */
export interface FailedRow {
  readonly seq: string;
  readonly attempts: number;
  /** The error's message, cut to 2000 characters: the last_error column is bounded. */
  readonly error: string;
  readonly delayMs: number;
}

export interface PublishedBatch {
  /** Seqs of the rows published, to mark sent. */
  readonly sent: string[];
  readonly failed: FailedRow[];
}

export const DEFAULT_RELAY_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 60_000, multiplier: 2, jitter: 0.2 };

/**
 * The dialect-free half of an outbox relay: the loop (a batch, then wait for
 * the poll interval or a wake-up), one batch at a time, publishing in key
 * order with backoff for failures, error reporting, cleanup timing and stop.
 * A database package subclasses it with the SQL: `batch()` locks due rows,
 * hands them to `publish()`, marks the result and commits. Subclasses call
 * `start()` at the end of their constructor, so the loop never runs before
 * their own fields are set.
 */
export abstract class RelayLoop implements OutboxRelay {
  readonly stats = { published: 0, failed: 0, batches: 0 };
  readonly #o: RelayOptions;
  readonly #pollIntervalMs: number;
  readonly #backoff: BackoffPolicy;
  readonly #decoder = new StoredEventDecoder();
  #stopping = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> = Promise.resolve();
  #running: Promise<number> | undefined;
  #lastCleanup = 0;

  protected constructor(options: RelayOptions, defaultPollIntervalMs: number) {
    this.#o = options;
    this.#pollIntervalMs = options.pollIntervalMs ?? defaultPollIntervalMs;
    this.#backoff = { ...DEFAULT_RELAY_BACKOFF, ...options.backoff };
  }

  /** Locks due rows, publishes them with `publish()`, marks them, commits; resolves with the number published. */
  protected abstract batch(): Promise<number>;

  /** Runs before every round of the loop (PostgreSQL re-opens its LISTEN here). */
  protected async beforeRound(): Promise<void> {}

  /** Runs once stop() has seen the last batch end: close what the relay holds open. */
  protected afterStop(): void {}

  protected start(): void {
    this.#loop = this.#run();
  }

  protected get stopping(): boolean {
    return this.#stopping;
  }

  /** Ends the wait between rounds now: something was enqueued. */
  protected wake(): void {
    this.#wake?.();
  }

  protected report(err: unknown): void {
    try {
      this.#o.onError?.(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // a reporter that throws must not stop the relay
    }
  }

  /** The rows' limit per batch. */
  protected get batchSize(): number {
    return this.#o.batchSize ?? 100;
  }

  /**
   * Publishes `rows` (in seq order): keys in parallel, each key's rows one
   * after another; a failure holds the rest of its key back, so a key's
   * events never go out of order.
   */
  protected async publish(rows: readonly DueRow[]): Promise<PublishedBatch> {
    const byKey = new Map<string, DueRow[]>();
    for (const row of rows) {
      const list = byKey.get(row.key);
      if (list) list.push(row);
      else byKey.set(row.key, [row]);
    }
    const sent: string[] = [];
    const failed: FailedRow[] = [];
    await Promise.all(
      [...byKey.values()].map(async (list) => {
        for (const row of list) {
          try {
            const receipt = await this.#o.transport.publish(this.#decoder.decode(row.stored()));
            sent.push(row.seq);
            this.stats.published++;
            this.#o.onPublished?.(receipt);
          } catch (err) {
            const attempts = row.attempts + 1;
            this.stats.failed++;
            const error = err instanceof Error ? err.message : String(err);
            failed.push({ seq: row.seq, attempts, error: error.slice(0, 2000), delayMs: backoffDelay(this.#backoff, attempts) });
            this.report(new OutboxPublishError(row.eventId, attempts, err));
            return;
          }
        }
      }),
    );
    return { sent, failed };
  }

  /** When a cleanup of sent rows is due now: how long sent rows are kept (ms), and the cleanup counts as done. Otherwise undefined. */
  protected cleanupDue(): number | undefined {
    const keep = this.#o.keepSentMs ?? 600_000;
    const every = keep === 0 ? 0 : (this.#o.cleanupIntervalMs ?? 60_000);
    if (Date.now() - this.#lastCleanup < every) return undefined;
    this.#lastCleanup = Date.now();
    return keep;
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      await this.beforeRound();
      let published = 0;
      try {
        published = await this.flush();
      } catch (err) {
        this.report(err);
      }
      if (this.#stopping) break;
      if (published > 0) continue; // more may be waiting
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#pollIntervalMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  flush(): Promise<number> {
    // One batch at a time per relay: flush() from outside joins the one running.
    this.#running ??= this.batch().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async stop(): Promise<void> {
    if (this.#stopping) return this.#loop;
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
    await this.#running?.catch(() => undefined);
    this.afterStop();
  }
}
