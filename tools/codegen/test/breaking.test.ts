import { execFileSync, spawnSync } from "node:child_process";
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

/** V1 as released before qos existed; V1 with qos instead of delivery, the same quality of service. */
const V1_QOS = V1.replace("delivery: DELIVERY_JETSTREAM", "qos: QUALITY_OF_SERVICE_AT_LEAST_ONCE");

const git = (root: string, ...a: string[]): void => void execFileSync("git", ["-c", "user.email=t@t", "-c", "user.name=t", ...a], { cwd: root, stdio: "ignore" });

/**
 * A git repository whose first commit has `base` (V1); returns it with the
 * schema file's path. `oldOptions`: commit options.proto as it was before
 * qos (what a release from then contains); the working tree has today's.
 */
function gitRepo(base = V1, oldOptions = false): { root: string; file: string } {
  const root = mkdtempSync(join(tmpdir(), "cozebus-breaking-test-"));
  roots.push(root);
  mkdirSync(join(root, "schemas/coze/demo/v1"), { recursive: true });
  mkdirSync(join(root, "pkg"));
  cpSync(join(repo, "schemas/coze/eventbus"), join(root, "schemas/coze/eventbus"), { recursive: true });
  writeFileSync(join(root, "schemas/buf.yaml"), "version: v2\nmodules:\n  - path: .\nbreaking:\n  use:\n    - FILE\n");
  writeFileSync(join(root, "pkg/package.json"), JSON.stringify({ name: "@test/demo" }));
  const file = join(root, "schemas/coze/demo/v1/demo.proto");
  writeFileSync(file, base);
  writeFileSync(join(root, "codegen.config.json"), JSON.stringify(config));
  const options = join(root, "schemas/coze/eventbus/v1/options.proto");
  if (oldOptions) writeFileSync(options, readFileSync(join(import.meta.dirname, "fixtures/options-before-qos.proto")));
  git(root, "init", "-q", "-b", "main");
  git(root, "add", ".");
  git(root, "commit", "-qm", "v1");
  if (oldOptions) cpSync(join(repo, "schemas/coze/eventbus/v1/options.proto"), options);
  return { root, file };
}

function changesAfter(edit: (src: string) => string, base = V1, oldOptions = false): string[] {
  const { root, file } = gitRepo(base, oldOptions);
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

  it("a change of the deprecated delivery, which buf does not see, is a change of qos", () => {
    expect(changesAfter((s) => s.replace("DELIVERY_JETSTREAM", "DELIVERY_CORE"))).toEqual(["@test/demo: event coze.demo.v1.Happened: qos at-least-once -> at-most-once"]);
  });

  it("a qos change, which buf does not see", () => {
    expect(changesAfter((s) => s.replace("QUALITY_OF_SERVICE_AT_LEAST_ONCE", "QUALITY_OF_SERVICE_AT_MOST_ONCE"), V1_QOS)).toEqual([
      "@test/demo: event coze.demo.v1.Happened: qos at-least-once -> at-most-once",
    ]);
  });

  it("delivery: DELIVERY_JETSTREAM -> qos: QUALITY_OF_SERVICE_AT_LEAST_ONCE (the same effective qos) is not breaking, against a release from before qos", () => {
    expect(changesAfter(() => V1_QOS, V1, true)).toEqual([]);
    expect(changesAfter(() => V1_QOS.replace("QUALITY_OF_SERVICE_AT_LEAST_ONCE", "QUALITY_OF_SERVICE_AT_LEAST_ONCE delivery: DELIVERY_JETSTREAM"), V1, true)).toEqual([]);
  });

  it("delivery: DELIVERY_JETSTREAM -> qos: QUALITY_OF_SERVICE_AT_MOST_ONCE is breaking", () => {
    expect(changesAfter(() => V1.replace("delivery: DELIVERY_JETSTREAM", "qos: QUALITY_OF_SERVICE_AT_MOST_ONCE"), V1, true)).toEqual([
      "@test/demo: event coze.demo.v1.Happened: qos at-least-once -> at-most-once",
    ]);
  });

  it("breaking --against-last-release --require-changeset passes after the migration to qos (the CLI, against a release tag)", () => {
    const { root, file } = gitRepo(V1, true);
    git(root, "tag", "@test/demo@1.0.0");
    writeFileSync(file, V1_QOS);
    git(root, "commit", "-qam", "qos");
    const cli = (): { status: number | null; stdout: string; stderr: string } =>
      spawnSync(process.execPath, [join(repo, "tools/codegen/dist/cli.js"), "breaking", "--against-last-release", "--require-changeset"], { cwd: root, encoding: "utf8" });
    let r = cli();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe("no breaking schema changes since @test/demo@1.0.0 for @test/demo\n");
    // The same run does catch a changed quality of service.
    writeFileSync(file, V1_QOS.replace("QUALITY_OF_SERVICE_AT_LEAST_ONCE", "QUALITY_OF_SERVICE_AT_MOST_ONCE"));
    r = cli();
    expect(r.status).toBe(1);
    expect(r.stdout).toContain("@test/demo: event coze.demo.v1.Happened: qos at-least-once -> at-most-once");
    expect(r.stderr).toMatch(/no major changeset: @test\/demo/);
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
