/**
 * `@cozebus/core/outbox`: the dialect-free half of a transactional outbox —
 * what an event's row holds, turning rows back into events, and the relay
 * loop (`RelayLoop`) a database package subclasses with its SQL
 * (`@cozebus/postgres`, `@cozebus/mysql`). No database client here: each
 * package keeps its own driver.
 */
export { storedAttributes, defaultOrderingKey, outboxRowValues } from "./attributes.js";
export type { StoredAttributes, OutboxRowValues } from "./attributes.js";
export { StoredEventDecoder } from "./event.js";
export type { StoredEvent } from "./event.js";
export { RelayLoop, DEFAULT_RELAY_BACKOFF } from "./relay.js";
export type { RelayOptions, OutboxRelay, DueRow, FailedRow, PublishedBatch } from "./relay.js";
export { OutboxPublishError } from "./errors.js";
export { sqlIdentifier } from "./identifier.js";
