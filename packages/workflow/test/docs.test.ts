import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const read = (path: string): string => readFileSync(new URL(path, import.meta.url), "utf8");

describe("docs/service-author.md", () => {
  it("shows exactly the example that typecheck compiles (examples/service.ts, minus its header comment)", () => {
    const guide = read("../../../docs/service-author.md");
    const block = /## Publish and subscribe in 20 lines[\s\S]*?```ts\n([\s\S]*?)```/.exec(guide)?.[1];
    const example = read("../examples/service.ts").split("\n").slice(2).join("\n");
    expect(block).toBe(example);
  });
});
