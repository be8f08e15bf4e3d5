// The outbox chaos test of @cozebus/testing/stores on PostgreSQL: the relay SIGKILLed twice and the nats-server
// once while transactions commit and roll back. Shortened in `npm test` (1,000 transactions);
// COZEBUS_CHAOS_FULL=1 runs 10,000.
import { describeOutboxChaos } from "@cozebus/testing/stores";
import { outboxHarness } from "./store-harness.js";

describeOutboxChaos("postgres", outboxHarness);
