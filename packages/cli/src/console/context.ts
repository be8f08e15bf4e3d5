import type { Bus } from "@cozebus/nats";
import type { SchemaSet } from "../schemas.js";
import type { Confirmations } from "./confirmations.js";

/** What every page may use: the connection, the descriptor set given with --schemas, the pending confirmations. */
export interface ConsoleContext {
  readonly bus: Bus;
  readonly schemas: SchemaSet | undefined;
  readonly confirmations: Confirmations;
  /** Runs replays and deletes one at a time, so two submits of one confirmation never race each other. */
  serially<T>(work: () => Promise<T>): Promise<T>;
}
