/**
 * @cozebus/postgres — effectively once with PostgreSQL: the inbox (an
 * idempotent-consumer store a handler can mark inside its own transaction)
 * and the transactional outbox with its relay. This file is the whole public
 * surface.
 */
export { PostgresInboxStore } from "./inbox.js";
export type { CompleteInKey } from "./inbox.js";
export { PostgresOutbox, startOutboxRelay, OutboxPublishError } from "./outbox.js";
export type { EnqueueOptions, Enqueued, OutboxRelay, OutboxRelayOptions } from "./outbox.js";
export { migrate, migrationSql } from "./migrate.js";
export { withTransaction } from "./transaction.js";
export { DATABASE_URL, openDatabase, checkOutbox, outboxBacklog, DatabaseUnavailableError, OutboxTableMissingError } from "./database.js";
export type { OpenDatabaseOptions, OutboxBacklog } from "./database.js";
export type { TableOptions } from "./names.js";
// What a handler meets when it marks inside its own transaction.
export { AlreadyHandledError, guard, inboxEventId } from "@cozebus/core/inbox";
export type { InboxClaim, InboxStore, GuardOptions } from "@cozebus/core/inbox";
