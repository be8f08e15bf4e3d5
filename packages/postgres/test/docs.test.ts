import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const read = (path: string): string => readFileSync(new URL(path, import.meta.url), "utf8");

describe("docs/effectively-once.md", () => {
  it("shows exactly the Kysely example that typecheck compiles and test/kysely.test.ts runs (minus its header comment)", () => {
    const guide = read("../../../docs/effectively-once.md");
    const block = /## Kysely[\s\S]*?```ts\n([\s\S]*?)```/.exec(guide)?.[1];
    const example = read("../examples/kysely.ts");
    expect(block).toBe(example.slice(example.indexOf("*/\n") + 3));
  });
});
