import { spawnSync } from "node:child_process";
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
  return generateWarning(body).out;
}

/** Generates, returning the output directory and the warnings (stderr lines). */
function generateWarning(body: string): { out: string; warnings: string[] } {
  const root = repoWith(body);
  const out = join(root, "out");
  const warnings = generateDomain(root, config, "demo", out);
  return { out, warnings };
}

function problems(body: string): string {
  try {
    generate(body);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("codegen accepted a schema it should have refused");
}

const AT_LEAST_ONCE = "qos: QUALITY_OF_SERVICE_AT_LEAST_ONCE";
const AT_MOST_ONCE = "qos: QUALITY_OF_SERVICE_AT_MOST_ONCE";

/** An event message with `qos` (the options after the subject); every field gets a comment unless `bare` (comments are required). */
const event = (subject: string, fields: string, qos = AT_LEAST_ONCE, bare = false): string =>
  `// A thing happened.\nmessage Thing {\n  option (coze.eventbus.v1.event) = { subject: "${subject}" ${qos} };\n${bare ? fields : documented(fields)}\n}`;
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
    ["a field without a comment", event("coze.demo.{id}.x", "  // Id.\n  string id = 1;\n  string note = 2;", AT_MOST_ONCE, true), /Thing: field note has no comment/],
    [
      "qos not set",
      event("coze.demo.{id}.x", "  string id = 1;", ""),
      /Thing: qos is not set; set qos: QUALITY_OF_SERVICE_AT_LEAST_ONCE \(stored, acknowledged, retried\) or qos: QUALITY_OF_SERVICE_AT_MOST_ONCE \(live subscribers only\)/,
    ],
    ["qos set to unspecified", event("coze.demo.{id}.x", "  string id = 1;", "qos: QUALITY_OF_SERVICE_UNSPECIFIED"), /Thing: qos is not set; set qos: QUALITY_OF_SERVICE_AT_LEAST_ONCE/],
    ["the deprecated delivery set to unspecified, qos not set", event("coze.demo.{id}.x", "  string id = 1;", "delivery: DELIVERY_UNSPECIFIED"), /Thing: qos is not set/],
    ["an unknown qos value", event("coze.demo.{id}.x", "  string id = 1;", "qos: 7"), /Thing: qos has the unknown value 7; set qos: QUALITY_OF_SERVICE_AT_LEAST_ONCE/],
    [
      "an unknown value of the deprecated delivery",
      event("coze.demo.{id}.x", "  string id = 1;", "delivery: 7"),
      /Thing: the deprecated delivery has the unknown value 7; replace it with qos: QUALITY_OF_SERVICE_AT_LEAST_ONCE/,
    ],
    [
      "qos and the deprecated delivery disagreeing (at least once vs core)",
      event("coze.demo.{id}.x", "  string id = 1;", "qos: QUALITY_OF_SERVICE_AT_LEAST_ONCE delivery: DELIVERY_CORE"),
      /demo\.proto: coze\.demo\.v1\.Thing: qos: QUALITY_OF_SERVICE_AT_LEAST_ONCE \(at-least-once\) and the deprecated delivery: DELIVERY_CORE \(at-most-once\) disagree; keep the qos you mean and remove the delivery line/,
    ],
    [
      "qos and the deprecated delivery disagreeing (at most once vs JetStream)",
      event("coze.demo.{id}.x", "  string id = 1;", "delivery: DELIVERY_JETSTREAM qos: QUALITY_OF_SERVICE_AT_MOST_ONCE"),
      /qos: QUALITY_OF_SERVICE_AT_MOST_ONCE \(at-most-once\) and the deprecated delivery: DELIVERY_JETSTREAM \(at-least-once\) disagree/,
    ],
    [
      "two events that can produce the same subject",
      event("coze.demo.{id}.done", "  string id = 1;") +
        `\n// Other.\nmessage Other {\n  option (coze.eventbus.v1.event) = { subject: "coze.demo.fixed.{what}" qos: QUALITY_OF_SERVICE_AT_MOST_ONCE };\n  // What.\n  string what = 1;\n}`,
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
    const msg = problems(event("coze.demo.{missing}.x", "  string id = 1;") + `\n// Two.\nmessage Two {\n  option (coze.eventbus.v1.event) = { subject: "coze.demo.*.y" qos: QUALITY_OF_SERVICE_AT_MOST_ONCE };\n  // Id.\n  string id = 1;\n}`);
    expect(msg).toMatch(/2 schema problem\(s\)/);
    expect(msg).toMatch(/\{missing\}/);
    expect(msg).toMatch(/wildcard/);
  });
});

describe("output", () => {
  const good =
    event("coze.demo.{id}.happened", "  // The thing's id.\n  int64 id = 1;\n  // A note.\n  string note = 2;", AT_LEAST_ONCE, true) +
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
    expect(readFileSync(join(out, "EVENTS.md"), "utf8")).toMatch(/\| event \| subject \| qos \| type \|\n\|---\|---\|---\|---\|\n\| \[`thing`\]\(#thing\) \| `coze\.demo\.\{id\}\.happened` \| at-least-once \|/);
    expect(readFileSync(join(out, "EVENTS.md"), "utf8")).toContain("Subject `coze.demo.{id}.happened`, at-least-once, `coze.demo.v1.Thing`.");
    expect(JSON.parse(readFileSync(join(out, "catalog.json"), "utf8"))).toMatchObject({ events: [{ name: "thing", qos: "at-least-once" }] });
  });

  it("at most once is generated as such, and a schema with qos has no warnings", () => {
    const { out, warnings } = generateWarning(event("coze.demo.{id}.ticked", "  string id = 1;", AT_MOST_ONCE));
    expect(warnings).toEqual([]);
    expect(readFileSync(join(out, "demo.events.ts"), "utf8")).toMatch(/fields: \{ id: "id" \},\n\s+qos: "at-most-once",/);
    expect(JSON.parse(readFileSync(join(out, "catalog.json"), "utf8"))).toMatchObject({ events: [{ qos: "at-most-once" }] });
  });

  it("the check reports a hand edit of generated code", () => {
    const a = generate(good);
    const b = generate(good);
    writeFileSync(join(b, "demo.events.ts"), readFileSync(join(b, "demo.events.ts"), "utf8") + "// edited\n");
    expect(diffTrees(a, b)).toEqual(["demo.events.ts: differs"]);
  });
});

describe("the deprecated delivery option: old schemas still build, with a warning naming the line to write", () => {
  it.each<[string, string, string]>([
    ["DELIVERY_CORE", "at-most-once", "QUALITY_OF_SERVICE_AT_MOST_ONCE"],
    ["DELIVERY_JETSTREAM", "at-least-once", "QUALITY_OF_SERVICE_AT_LEAST_ONCE"],
  ])("delivery: %s is generated as %s, with one warning", (delivery, qos, replacement) => {
    const { out, warnings } = generateWarning(event("coze.demo.{id}.x", "  string id = 1;", `delivery: ${delivery}`));
    expect(warnings).toEqual([
      `WARNING: coze/demo/v1/demo.proto: coze.demo.v1.Thing: delivery is deprecated; replace "delivery: ${delivery}" with "qos: ${replacement}" (the same quality of service, ${qos})`,
    ]);
    expect(readFileSync(join(out, "demo.events.ts"), "utf8")).toContain(`qos: ${JSON.stringify(qos)},`);
    expect(JSON.parse(readFileSync(join(out, "catalog.json"), "utf8"))).toMatchObject({ events: [{ qos }] });
  });

  it("qos and delivery that agree build with qos, and a warning to remove the delivery line", () => {
    const { out, warnings } = generateWarning(event("coze.demo.{id}.x", "  string id = 1;", "qos: QUALITY_OF_SERVICE_AT_MOST_ONCE delivery: DELIVERY_CORE"));
    expect(warnings).toEqual(['WARNING: coze/demo/v1/demo.proto: coze.demo.v1.Thing: delivery is deprecated and repeats qos: remove the line "delivery: DELIVERY_CORE"']);
    expect(readFileSync(join(out, "demo.events.ts"), "utf8")).toContain('qos: "at-most-once",');
  });

  it("cozebus-codegen prints the warning on stderr and still generates (exit 0)", () => {
    const root = repoWith(event("coze.demo.{id}.x", "  string id = 1;", "delivery: DELIVERY_JETSTREAM"));
    writeFileSync(join(root, "codegen.config.json"), JSON.stringify(config));
    const r = spawnSync(process.execPath, [join(repo, "tools/codegen/dist/cli.js")], { cwd: root, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe(
      'WARNING: coze/demo/v1/demo.proto: coze.demo.v1.Thing: delivery is deprecated; replace "delivery: DELIVERY_JETSTREAM" with "qos: QUALITY_OF_SERVICE_AT_LEAST_ONCE" (the same quality of service, at-least-once)\n',
    );
    expect(r.stdout).toMatch(/demo -> pkg\/src\/gen/);
    expect(readFileSync(join(root, "pkg/src/gen/demo.events.ts"), "utf8")).toContain('qos: "at-least-once",');
  });
});
