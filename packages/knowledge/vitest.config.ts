// Shared settings live at the root so every package tests the same way; the domain round trips are also run on every older nats-server of the matrix.
import { natsMatrix } from "../../vitest.shared.js";

export default natsMatrix(["test/knowledge.test.ts"]);
