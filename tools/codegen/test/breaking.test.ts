import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findBreaking, majorChangesets } from "../src/breaking.js";
import type { CodegenConfig } from "../src/index.js";

const repo = resolve(import.meta.dirname, "../../..");
const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
const config: CodegenConfig = { schemas: "schemas", domains: { demo: { protoPath: "coze/demo", package: "pkg" } } };

const V1 = `syntax = "proto3";
package coze.demo.v1;
import "coze/eventbus/v1/options.proto";
// Something happened.
message Happened {
  option (coze.eventbus.v1.event) = { subject: "coze.demo.{id}.happened" delivery: DELIVERY_JETSTREAM };
  // Id.
  string id = 1;
  // Count.
  int32 count = 2;
  // Note.
  string note = 3;
}
// Ask.
message AskRequest { string id = 1; }
// Answer.
message AskReply { string answer = 1; }
// Ops.
service DemoService {
  // Asks.
  rpc Ask(AskRequest) returns (AskReply) { option (coze.eventbus.v1.operation) = { subject: "coze.demo.{id}.ask" }; }
}
`;

/** A git repository whose first commit has V1; returns it with the schema file's path. */
function gitRepo(): { root: string; file: string } {
  const root = mkdtempSync(join(tmpdir(), "cozebus-breaking-test-"));
  roots.push(root);
  mkdirSync(join(root, "schemas/coze/demo/v1"), { recursive: true });
  mkdirSync(join(root, "pkg"));
  cpSync(join(repo, "schemas/coze/eventbus"), join(root, "schemas/coze/eventbus"), { recursive: true });
  writeFileSync(join(root, "schemas/buf.yaml"), "version: v2\nmodules:\n  - path: .\nbreaking:\n  use:\n    - FILE\n");
  writeFileSync(join(root, "pkg/package.json"), JSON.stringify({ name: "@test/demo" }));
  const file = join(root, "schemas/coze/demo/v1/demo.proto");
  writeFileSync(file, V1);
  const git = (...a: string[]): void => void execFileSync("git", a, { cwd: root, stdio: "ignore" });
  git("init", "-q", "-b", "main");
  git("-c", "user.email=t@t", "-c", "user.name=t", "add", ".");
  git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "v1");
  return { root, file };
}

function changesAfter(edit: (src: string) => string): string[] {
  const { root, file } = gitRepo();
  writeFileSync(file, edit(readFileSync(file, "utf8")));
  return findBreaking(root, config, "main").map((c) => `${c.package}: ${c.change}`);
}

describe("codegen breaking", () => {
  it("finds nothing when nothing changed", () => {
    expect(changesAfter((s) => s)).toEqual([]);
  });

  it("a field type change (buf)", () => {
    const out = changesAfter((s) => s.replace("int32 count = 2;", "string count = 2;"));
    expect(out.join("\n")).toMatch(/@test\/demo: coze\/demo\/v1\/demo\.proto:.*count.*type/i);
  });

  it("a removed field (buf)", () => {
    const out = changesAfter((s) => s.replace("  // Note.\n  string note = 3;\n", ""));
    expect(out.join("\n")).toMatch(/@test\/demo: .*deleted/i);
  });

  it("a subject change, which buf does not see", () => {
    expect(changesAfter((s) => s.replace("coze.demo.{id}.happened", "coze.demo.{id}.occurred"))).toEqual([
      "@test/demo: event coze.demo.v1.Happened: subject coze.demo.{id}.happened -> coze.demo.{id}.occurred",
    ]);
  });

  it("a delivery change, which buf does not see", () => {
    expect(changesAfter((s) => s.replace("DELIVERY_JETSTREAM", "DELIVERY_CORE"))).toEqual(["@test/demo: event coze.demo.v1.Happened: delivery jetstream -> core"]);
  });

  it("an operation subject change", () => {
    expect(changesAfter((s) => s.replace("coze.demo.{id}.ask", "coze.demo.{id}.question"))).toEqual([
      "@test/demo: operation coze.demo.v1.DemoService.Ask: subject coze.demo.{id}.ask -> coze.demo.{id}.question",
    ]);
  });

  it("reads major bumps from pending changesets", () => {
    const { root } = gitRepo();
    mkdirSync(join(root, ".changeset"));
    writeFileSync(join(root, ".changeset/x.md"), '---\n"@test/demo": major\n"@test/other": minor\n---\n\nRenamed a subject.\n');
    expect([...majorChangesets(root)]).toEqual(["@test/demo"]);
  });
});
