import type { SchemaSet } from "../schemas.js";
import type { Confirmations } from "./confirmations.js";
import type { ConsoleSource } from "./source.js";

/** What every page may use: the broker behind the seam, the descriptor set given with --schemas, the pending confirmations. */
export interface ConsoleContext {
  readonly source: ConsoleSource;
  readonly schemas: SchemaSet | undefined;
  readonly confirmations: Confirmations;
  /** Runs replays and deletes one at a time, so two submits of one confirmation never race each other. */
  serially<T>(work: () => Promise<T>): Promise<T>;
  /** Stops of open tails: the server runs them before it closes (a Pulsar tail removes its subscription), as the process exits right after. */
  readonly openTails: Set<() => Promise<void>>;
}
