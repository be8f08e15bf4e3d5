import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { diffTrees, generateDomain, type CodegenConfig } from "../src/index.js";

const repo = resolve(import.meta.dirname, "../../..");
const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

const config: CodegenConfig = { schemas: "schemas", domains: { demo: { protoPath: "coze/demo", package: "pkg" } } };

/** A throwaway repository with the real options.proto and one demo schema. */
function repoWith(body: string): string {
  const root = mkdtempSync(join(tmpdir(), "cozebus-codegen-test-"));
  roots.push(root);
  mkdirSync(join(root, "schemas/coze/demo/v1"), { recursive: true });
  mkdirSync(join(root, "pkg"), { recursive: true });
  cpSync(join(repo, "schemas/coze/eventbus"), join(root, "schemas/coze/eventbus"), { recursive: true });
  writeFileSync(join(root, "schemas/buf.yaml"), "version: v2\nmodules:\n  - path: .\n");
  writeFileSync(join(root, "pkg/package.json"), JSON.stringify({ name: "@test/demo" }));
  writeFileSync(
    join(root, "schemas/coze/demo/v1/demo.proto"),
    `syntax = "proto3";\npackage coze.demo.v1;\nimport "coze/eventbus/v1/options.proto";\n${body}\n`,
  );
  return root;
}

function generate(body: string): string {
  const root = repoWith(body);
  const out = join(root, "out");
  generateDomain(root, config, "demo", out);
  return out;
}

function problems(body: string): string {
  try {
    generate(body);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("codegen accepted a schema it should have refused");
}

/** An event message; every field gets a comment unless `bare` (comments are required). */
const event = (subject: string, fields: string, delivery = "DELIVERY_JETSTREAM", bare = false): string =>
  `// A thing happened.\nmessage Thing {\n  option (coze.eventbus.v1.event) = { subject: "${subject}" delivery: ${delivery} };\n${bare ? fields : documented(fields)}\n}`;
const documented = (fields: string): string =>
  fields
    .split("\n")
    .map((l) => (l.trim() === "" || l.trim().startsWith("//") || l.includes("oneof") ? l : `  // Doc.\n${l}`))
    .join("\n");

describe("template validation: each rule names the file, the message and what to change", () => {
  it.each<[string, string, RegExp]>([
    ["a field that does not exist", event("coze.demo.{missing}.x", "  string id = 1;"), /demo\.proto: coze\.demo\.v1\.Thing: subject field \{missing\} is not a field of coze\.demo\.v1\.Thing/],
    ["a repeated field", event("coze.demo.{ids}.x", "  repeated string ids = 1;"), /\{ids\} is repeated; subject fields must be singular string or integer/],
    ["an optional field", event("coze.demo.{id}.x", "  optional string id = 1;"), /\{id\} is optional/],
    ["a map field", event("coze.demo.{m}.x", "  map<string, string> m = 1;"), /\{m\} is a map/],
    ["a message field", event("coze.demo.{t}.x", "  Inner t = 1;") + "\nmessage Inner { string a = 1; }", /\{t\} is a message/],
    ["a oneof member", event("coze.demo.{a}.x", "  oneof which { string a = 1; string b = 2; }"), /\{a\} is in the oneof which/],
    ["a bool field", event("coze.demo.{flag}.x", "  bool flag = 1;"), /\{flag\} is bool/],
    ["an enum field", event("coze.demo.{e}.x", "  Kind e = 1;") + "\nenum Kind { KIND_UNSPECIFIED = 0; }", /\{e\} is an enum/],
    ["a star wildcard", event("coze.demo.*.x", "  string id = 1;"), /token 3 is a wildcard \("\*"\)/],
    ["a full wildcard", event("coze.demo.{id}.>", "  string id = 1;"), /token 4 is a wildcard \(">"\)/],
    ["an empty token", event("coze.demo..x", "  string id = 1;"), /token 3 is an empty token/],
    ["a token with a space", event("coze.demo.a b", "  string id = 1;"), /token 3 is "a b"/],
    ["no subject", event("", "  string id = 1;"), /has no subject/],
    ["another root", event("acme.demo.{id}.x", "  string id = 1;"), /must start with "coze\.demo\."/],
    ["another domain", event("coze.other.{id}.x", "  string id = 1;"), /must start with "coze\.demo\."/],
    ["an event without a comment", event("coze.demo.{id}.x", "  string id = 1;").replace("// A thing happened.\n", ""), /Thing: has no comment; describe when the event happens/],
    ["a field without a comment", event("coze.demo.{id}.x", "  // Id.\n  string id = 1;\n  string note = 2;", "DELIVERY_CORE", true), /Thing: field note has no comment/],
    ["delivery not set", event("coze.demo.{id}.x", "  string id = 1;", "DELIVERY_UNSPECIFIED"), /delivery is not set; set DELIVERY_CORE or DELIVERY_JETSTREAM/],
    ["an unknown delivery value", event("coze.demo.{id}.x", "  string id = 1;", "7"), /delivery has the unknown value 7/],
    [
      "two events that can produce the same subject",
      event("coze.demo.{id}.done", "  string id = 1;") +
        `\n// Other.\nmessage Other {\n  option (coze.eventbus.v1.event) = { subject: "coze.demo.fixed.{what}" delivery: DELIVERY_CORE };\n  // What.\n  string what = 1;\n}`,
      /Other: subject "coze\.demo\.fixed\.\{what\}" collides with coze\.demo\.v1\.Thing \("coze\.demo\.\{id\}\.done"\): both can produce "coze\.demo\.fixed\.done"/,
    ],
    [
      "an operation colliding with an event",
      event("coze.demo.{id}.get", "  string id = 1;") +
        `\nmessage GetRequest { string id = 1; }\nmessage GetReply { string v = 1; }\nservice DemoService {\n  rpc Get(GetRequest) returns (GetReply) { option (coze.eventbus.v1.operation) = { subject: "coze.demo.{id}.get" }; }\n}`,
      /DemoService\.Get: subject "coze\.demo\.\{id\}\.get" collides with coze\.demo\.v1\.Thing/,
    ],
  ])("refuses %s", (_label, body, message) => {
    expect(problems(body)).toMatch(message);
  });

  it("reports every problem at once, not only the first", () => {
    const msg = problems(event("coze.demo.{missing}.x", "  string id = 1;") + `\n// Two.\nmessage Two {\n  option (coze.eventbus.v1.event) = { subject: "coze.demo.*.y" delivery: DELIVERY_CORE };\n  // Id.\n  string id = 1;\n}`);
    expect(msg).toMatch(/2 schema problem\(s\)/);
    expect(msg).toMatch(/\{missing\}/);
    expect(msg).toMatch(/wildcard/);
  });
});

describe("output", () => {
  const good =
    event("coze.demo.{id}.happened", "  // The thing's id.\n  int64 id = 1;\n  // A note.\n  string note = 2;", "DELIVERY_JETSTREAM", true) +
    `\nmessage AskRequest { string id = 1; }\nmessage AskReply { string answer = 1; }\n// Demo operations.\nservice DemoService {\n  // Asks.\n  rpc Ask(AskRequest) returns (AskReply) { option (coze.eventbus.v1.operation) = { subject: "coze.demo.{id}.ask" timeout_ms: 1500 }; }\n}`;

  it("is deterministic: two runs write identical files", () => {
    const a = generate(good);
    const b = generate(good);
    expect(diffTrees(a, b)).toEqual([]);
  });

  it("writes the domain module, the JSON catalogue and the Markdown catalogue", () => {
    const out = generate(good);
    const mod = readFileSync(join(out, "demo.events.ts"), "utf8");
    expect(mod.startsWith("// generated — do not edit.")).toBe(true);
    expect(mod).toMatch(/thing: \{\n\s+type: "coze\.demo\.v1\.Thing",\n\s+subject: "coze\.demo\.\{id\}\.happened",\n\s+fields: \{ id: "id" \},\n\s+qos: "at-least-once"/);
    expect(mod).toMatch(/ask: \{[\s\S]*timeoutMs: 1500/);
    const catalog = JSON.parse(readFileSync(join(out, "catalog.json"), "utf8")) as { events: Array<{ fields: Array<{ prop: string; type: string; description: string }> }> };
    expect(catalog.events[0]!.fields).toEqual([
      { name: "id", prop: "id", type: "int64", description: "The thing's id." },
      { name: "note", prop: "note", type: "string", description: "A note." },
    ]);
    expect(readFileSync(join(out, "EVENTS.md"), "utf8")).toMatch(/\| \[`thing`\]\(#thing\) \| `coze\.demo\.\{id\}\.happened` \| jetstream \|/);
  });

  it("the check reports a hand edit of generated code", () => {
    const a = generate(good);
    const b = generate(good);
    writeFileSync(join(b, "demo.events.ts"), readFileSync(join(b, "demo.events.ts"), "utf8") + "// edited\n");
    expect(diffTrees(a, b)).toEqual(["demo.events.ts: differs"]);
  });
});
