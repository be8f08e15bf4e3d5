/**
 * `@cozebus/testing/stores`: the conformance suites every SQL inbox/outbox
 * store passes (`@cozebus/postgres`, `@cozebus/mysql`), the way
 * `@cozebus/testing/conformance` is the one every transport passes. A
 * package's test files call them with a harness of its dialect's objects;
 * the cases only one dialect has (its SQL, its driver's errors, Kysely)
 * stay in that package's own tests.
 */
export { describeInboxStoreConformance } from "./inbox.js";
export { describeOutboxConformance } from "./outbox.js";
export { describeOutboxChaos } from "./outbox-chaos.js";
export type {
  StoreDatabase,
  StoreRow,
  SqlDialect,
  CompleteInKey,
  TransactionalInboxStore,
  InboxHarness,
  SqlOutbox,
  OutboxFeatures,
  OutboxHarness,
  StoreSuiteBus,
  StoreSuiteJetStream,
  StoreSuiteStoredMessage,
} from "./harness.js";
