// Shared settings live at the root so every package tests the same way. The conformance suite, and the
// files that assert what each server version uses or refuses, also run on every older nats-server of the matrix.
import { natsMatrix } from "../../vitest.shared.js";

export default natsMatrix(["test/conformance.test.ts", "test/server-features.test.ts", "test/partitioned.test.ts"]);
