/**
 * @cozebus/mysql — effectively once with MySQL 8 / MariaDB 10.6+: the inbox
 * (an idempotent-consumer store a handler can mark inside its own
 * transaction) and the transactional outbox with its relay; the same
 * semantics as @cozebus/postgres. This file is the whole public surface.
 */
export { MysqlInboxStore } from "./inbox.js";
export type { CompleteInKey } from "./inbox.js";
export { MysqlOutbox } from "./outbox.js";
export type { EnqueueOptions, Enqueued } from "./outbox.js";
export { startOutboxRelay, OutboxPublishError } from "./relay.js";
export type { OutboxRelay, OutboxRelayOptions } from "./relay.js";
export { migrate, migrationStatements } from "./migrate.js";
export { withTransaction } from "./db.js";
export { openDatabase, checkOutbox, outboxBacklog, DatabaseUnavailableError, OutboxTableMissingError } from "./database.js";
export type { OpenDatabaseOptions, OutboxBacklog } from "./database.js";
export type { TableOptions } from "./names.js";
export { AlreadyHandledError, guard, inboxEventId } from "@cozebus/core/inbox";
export type { InboxClaim, InboxStore, GuardOptions } from "@cozebus/core/inbox";
