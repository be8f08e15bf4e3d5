// The inbox cases every SQL store passes (@cozebus/testing/stores), on MysqlInboxStore and a real MariaDB.
import { describeInboxStoreConformance } from "@cozebus/testing/stores";
import { inboxHarness } from "./store-harness.js";

describeInboxStoreConformance("mysql", inboxHarness);
