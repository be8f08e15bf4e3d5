import { defineConfig } from "vitest/config";

/** One test setup for every package: real servers and restarts need generous limits, never timing assertions. */
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
