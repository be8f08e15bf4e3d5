import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { KNOWN_DIFFERENCES, PULSAR_KNOWN_DIFFERENCES } from "../src/index.js";

const read = (path: string): string => readFileSync(new URL(path, import.meta.url), "utf8");

describe("docs/coze-studio.md", () => {
  const guide = read("../../../docs/coze-studio.md");

  it("shows exactly the example that typecheck compiles (examples/indexer.ts, minus its header comment)", () => {
    const block = /## An indexer in 20 lines[\s\S]*?```ts\n([\s\S]*?)```/.exec(guide)?.[1];
    const example = read("../examples/indexer.ts").split("\n").slice(2).join("\n");
    expect(block).toBe(example);
  });

  it("lists every known difference the package reports", () => {
    const table = guide.slice(guide.indexOf("## Known differences"), guide.indexOf("## Checking a deployment"));
    for (const d of KNOWN_DIFFERENCES) expect(table).toContain(`| ${d.what} |`);
  });

  it("lists every Pulsar difference doctor reports (PULSAR_KNOWN_DIFFERENCES) in the Pulsar differences table", () => {
    const table = guide.slice(guide.indexOf("### Pulsar differences"), guide.indexOf("**Tested with Coze's Go client.**"));
    expect(table.length).toBeGreaterThan(100);
    for (const d of PULSAR_KNOWN_DIFFERENCES) expect(table).toContain(`| ${d.what} |`);
  });
});
