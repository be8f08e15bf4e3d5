/**
 * `@cozebus/core/inbox`: the idempotent consumer. `guard()` is what the typed
 * layer runs around a handler; `InboxStore` is what a store implements
 * (`@cozebus/postgres`, `@cozebus/nats`).
 */
export { guard, inboxTimes, inboxEventId, INBOX_DEFAULTS } from "./guard.js";
export type { GuardOptions } from "./guard.js";
export { InboxUnavailableError, InboxBusyError, AlreadyHandledError, LeaseLostError, InboxKeyError, isAlreadyHandled } from "./store.js";
export type { InboxStore, InboxKey, InboxTimes, InboxClaim, ClaimResult } from "./store.js";
export { MemoryInboxStore } from "./memory.js";
// For SQL stores (@cozebus/postgres, @cozebus/mysql): the dialect-free rounds of a claim.
export { claimSqlRow } from "./sql-claim.js";
export type { SqlClaimSteps, HeldRow } from "./sql-claim.js";
