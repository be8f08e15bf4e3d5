// Shared settings live at the root so every package tests the same way; the conformance suite is also run on every older nats-server of the matrix.
import { natsMatrix } from "../../vitest.shared.js";

export default natsMatrix(["test/conformance.test.ts"]);
