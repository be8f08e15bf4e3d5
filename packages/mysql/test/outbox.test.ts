// The outbox and relay cases every SQL store passes (@cozebus/testing/stores), on MysqlOutbox, a real MariaDB
// and a real nats-server. The relay polls here: the wake-on-commit case is skipped, by name.
import { describeOutboxConformance } from "@cozebus/testing/stores";
import { outboxHarness } from "./store-harness.js";

describeOutboxConformance("mysql", outboxHarness);
