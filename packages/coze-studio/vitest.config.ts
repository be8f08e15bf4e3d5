// Shared settings live at the root so every package tests the same way.
import { mergeConfig } from "vitest/config";
import shared from "../../vitest.shared.js";

// cozego (test/go) is built once, before any worker starts: a cold build with the Pulsar client takes
// minutes on a loaded machine, more than a test hook's timeout.
export default mergeConfig(shared, { test: { globalSetup: ["./test/global-setup.ts"] } });
