// The outbox and relay cases every SQL store passes (@cozebus/testing/stores), on PostgresOutbox, a real
// PostgreSQL and a real nats-server. A commit wakes an idle relay here (LISTEN/NOTIFY).
import { describeOutboxConformance } from "@cozebus/testing/stores";
import { outboxHarness } from "./store-harness.js";

describeOutboxConformance("postgres", outboxHarness);
