// The inbox cases every SQL store passes (@cozebus/testing/stores), on PostgresInboxStore and a real PostgreSQL.
import { describeInboxStoreConformance } from "@cozebus/testing/stores";
import { inboxHarness } from "./store-harness.js";

describeInboxStoreConformance("postgres", inboxHarness);
