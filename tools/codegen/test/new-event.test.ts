import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkAll, generateAll, newEvent } from "../src/index.js";

const repo = resolve(import.meta.dirname, "../../..");
const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** A copy of this repository's schemas, codegen config and domain package manifests. */
function copyOfRepo(): string {
  const root = mkdtempSync(join(tmpdir(), "cozebus-new-event-"));
  roots.push(root);
  cpSync(join(repo, "schemas"), join(root, "schemas"), { recursive: true });
  cpSync(join(repo, "codegen.config.json"), join(root, "codegen.config.json"));
  for (const d of ["workflow", "agent", "knowledge"]) {
    mkdirSync(join(root, "packages", d), { recursive: true });
    cpSync(join(repo, "packages", d, "package.json"), join(root, "packages", d, "package.json"));
  }
  return root;
}

describe("this repository's schemas", () => {
  it("declare qos, not the deprecated delivery: codegen warns about nothing", () => {
    const root = copyOfRepo();
    const warnings: string[] = [];
    generateAll(root, (w) => warnings.push(w));
    expect(warnings).toEqual([]);
    for (const d of ["workflow", "agent", "knowledge"]) expect(readFileSync(join(root, `schemas/coze/${d}/v1/${d}.proto`), "utf8")).not.toMatch(/\bdelivery:/);
  });
});

describe("codegen new-event", () => {
  it("adds the message with its option, regenerates, and writes a minor changeset", () => {
    const root = copyOfRepo();
    const r = newEvent(root, "workflow", "WorkflowExecutionPaused");
    expect(r.subject).toBe("coze.workflow.{workflow_id}.execution_paused");
    const proto = readFileSync(r.protoFile, "utf8");
    expect(proto).toMatch(/message WorkflowExecutionPaused \{\n  option \(coze\.eventbus\.v1\.event\) = \{\n    subject: "coze\.workflow\.\{workflow_id\}\.execution_paused"\n    qos: QUALITY_OF_SERVICE_AT_LEAST_ONCE\n  \};\n  \/\/ The workflow this event is about\.\n  string workflow_id = 1;\n\}/);
    expect(proto.indexOf("message WorkflowExecutionPaused")).toBeLessThan(proto.indexOf("service WorkflowService"));
    expect(readFileSync(join(root, "packages/workflow/src/gen/workflow.events.ts"), "utf8")).toMatch(/executionPaused: \{\n\s+type: "coze\.workflow\.v1\.WorkflowExecutionPaused"/);
    expect(readFileSync(r.changeset, "utf8")).toBe('---\n"@cozebus/workflow": minor\n---\n\nNew event `WorkflowExecutionPaused` on `coze.workflow.{workflow_id}.execution_paused` (at-least-once).\n');
    expect(checkAll(root)).toEqual([]);
  });

  it("writes the descriptor set beside the schemas, and --check catches it stale or missing", () => {
    const root = copyOfRepo();
    const set = join(root, "schemas/cozebus.binpb");
    const before = readFileSync(set);
    newEvent(root, "workflow", "WorkflowExecutionPaused");
    const after = readFileSync(set);
    expect(after.equals(before)).toBe(false);
    expect(after.includes(Buffer.from("WorkflowExecutionPaused"))).toBe(true);
    expect(checkAll(root)).toEqual([]);
    writeFileSync(set, before);
    expect(checkAll(root)).toEqual(["schemas/cozebus.binpb: differs"]);
    rmSync(set);
    expect(checkAll(root)).toEqual(["schemas/cozebus.binpb: generated but not committed"]);
  });

  it("uses the domain's id type (int64 for agents) and at most once on request", () => {
    const root = copyOfRepo();
    const r = newEvent(root, "agent", "AgentArchived", "at-most-once");
    const proto = readFileSync(r.protoFile, "utf8");
    expect(proto).toMatch(/subject: "coze\.agent\.\{agent_id\}\.archived"\n    qos: QUALITY_OF_SERVICE_AT_MOST_ONCE/);
    expect(readFileSync(join(root, "packages/agent/src/gen/agent.events.ts"), "utf8")).toMatch(/subject: "coze\.agent\.\{agent_id\}\.archived",\n\s+fields: \{ agent_id: "agentId" \},\n\s+qos: "at-most-once",/);
    expect(readFileSync(r.changeset, "utf8")).toContain("(at-most-once).");
    expect(proto).toMatch(/message AgentArchived \{[\s\S]*?int64 agent_id = 1;/);
  });

  it("refuses a duplicate, a bad name and an unknown domain, changing nothing", () => {
    const root = copyOfRepo();
    const before = readFileSync(join(root, "schemas/coze/workflow/v1/workflow.proto"), "utf8");
    expect(() => newEvent(root, "workflow", "NodeStarted")).toThrow(/already has a message NodeStarted/);
    expect(() => newEvent(root, "workflow", "node_started")).toThrow(/PascalCase/);
    expect(() => newEvent(root, "billing", "Paid")).toThrow(/unknown domain "billing"/);
    expect(readFileSync(join(root, "schemas/coze/workflow/v1/workflow.proto"), "utf8")).toBe(before);
  });
});

describe("a new domain", () => {
  // Three full codegen runs (buf per domain): ~20 s on a quiet machine, over 60 s when the 2 cores are shared.
  it("is a schema folder plus one line of config: codegen scaffolds the package and generates it", { timeout: 240_000 }, () => {
    const root = copyOfRepo();
    mkdirSync(join(root, "schemas/coze/billing/v1"), { recursive: true });
    writeFileSync(
      join(root, "schemas/coze/billing/v1/billing.proto"),
      'syntax = "proto3";\npackage coze.billing.v1;\nimport "coze/eventbus/v1/options.proto";\n// An invoice was paid.\nmessage InvoicePaid {\n  option (coze.eventbus.v1.event) = { subject: "coze.billing.{account_id}.invoice_paid" qos: QUALITY_OF_SERVICE_AT_LEAST_ONCE };\n  // The account.\n  string account_id = 1;\n  // Amount in cents.\n  int64 amount_cents = 2;\n}\n',
    );
    const cfg = JSON.parse(readFileSync(join(root, "codegen.config.json"), "utf8")) as { domains: Record<string, unknown> };
    cfg.domains["billing"] = { protoPath: "coze/billing", package: "packages/billing" };
    writeFileSync(join(root, "codegen.config.json"), JSON.stringify(cfg));
    const done = generateAll(root);
    expect(done).toContain("scaffolded packages/billing/package.json");
    expect(done).toContain("scaffolded packages/billing/src/index.ts");
    expect(readFileSync(join(root, "packages/billing/src/gen/billing.events.ts"), "utf8")).toMatch(/invoicePaid: \{/);
    expect(readFileSync(join(root, "packages/billing/src/index.ts"), "utf8")).toMatch(/export function billing\(bus: TransportLike\): DomainClient<typeof billingDomain>/);
    expect(readFileSync(join(root, "packages/billing/src/index.ts"), "utf8")).toContain('import { domainClient, type DomainClient, type DomainEvent, type TransportLike } from "@cozebus/core";');
    expect((JSON.parse(readFileSync(join(root, "packages/billing/package.json"), "utf8")) as { dependencies: Record<string, string> }).dependencies).toEqual({
      "@bufbuild/protobuf": "^2.17.0",
      "@cozebus/core": "^0.1.0",
    });
    expect((JSON.parse(readFileSync(join(root, "packages/billing/package.json"), "utf8")) as { name: string }).name).toBe("@cozebus/billing");
    expect(generateAll(root).some((l) => l.startsWith("scaffolded"))).toBe(false); // only once
    expect(checkAll(root)).toEqual([]);
  });
});
