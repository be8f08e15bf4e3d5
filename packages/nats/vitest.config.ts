// Shared settings live at the root so every package tests the same way. The conformance suite, and the
// file that asserts what each server version uses or refuses, also run on every older nats-server of the
// matrix, and so does the KV inbox (per-key TTL on 2.11+, bucket max age before). (partitioned.test.ts runs on 2.12 only: its server-SIGKILL case failed once on 2.11.17 under load.)
import { natsMatrix } from "../../vitest.shared.js";

export default natsMatrix(["test/conformance.test.ts", "test/server-features.test.ts", "test/kv-inbox.test.ts"]);
