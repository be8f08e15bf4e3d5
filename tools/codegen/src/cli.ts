#!/usr/bin/env node
/**
 * cozebus-codegen — schemas/ to typed domain packages.
 *
 *   cozebus-codegen            regenerate every domain's src/gen
 *   cozebus-codegen --check    fail (exit 1) when committed src/gen differs from the schemas
 *   cozebus-codegen new-event <domain> <Name> [--core]
 *                              add an event to the domain's schema, regenerate, write a changeset
 *   cozebus-codegen breaking --against <git ref> | --against-last-release [--require-changeset]
 *                              list breaking schema changes (buf breaking + subjects, delivery,
 *                              operations); with --require-changeset, fail unless each affected
 *                              package has a major changeset
 *
 * Run from the repository root (where codegen.config.json is).
 * Exit codes: 0 ok, 1 check found differences, 2 schema or usage error.
 */
import { findBreaking, majorChangesets } from "./breaking.js";
import { checkAll, generateAll, readConfig } from "./generate.js";
import { newEvent } from "./new-event.js";
import { execFileSync } from "node:child_process";

/** The newest release tag (`@cozebus/<pkg>@<version>`, as changesets tags them), or null before the first release. */
function lastRelease(root: string): string | null {
  try {
    const tags = execFileSync("git", ["tag", "--list", "@cozebus/*@*", "--sort=-creatordate"], { cwd: root }).toString().split("\n").filter(Boolean);
    return tags[0] ?? null;
  } catch {
    return null;
  }
}

const args = process.argv.slice(2);
const root = process.cwd();

function usage(): never {
  console.error("usage: cozebus-codegen [--check] | new-event <domain> <Name> [--core] | breaking --against <git ref> [--require-changeset]");
  process.exit(2);
}

try {
  if (args.includes("--help") || args.includes("-h")) {
    console.log("usage: cozebus-codegen [--check]\n  regenerates every domain's src/gen from schemas/ (see codegen.config.json);\n  --check only compares and exits 1 on any difference");
  } else if (args.length === 0 || (args.length === 1 && args[0] === "generate")) {
    for (const line of generateAll(root)) console.log(line);
  } else if (args[0] === "new-event") {
    const [, domain, name] = args;
    if (domain === undefined || name === undefined) usage();
    const r = newEvent(root, domain, name, args.includes("--core") ? "core" : "jetstream");
    console.log(`added ${r.message} (${r.subject}) to ${r.protoFile}`);
    for (const line of r.generated) console.log(`regenerated ${line}`);
    console.log(`wrote ${r.changeset}\nnow describe the event and its fields in the .proto comments, add fields, and run "npm run codegen"`);
  } else if (args[0] === "breaking") {
    const i = args.indexOf("--against");
    const ref = i > 0 ? args[i + 1] : args.includes("--against-last-release") ? lastRelease(root) : undefined;
    if (ref === null) {
      console.log("no release tag yet (@cozebus/<package>@<version>): nothing to compare the schemas against");
      process.exit(0);
    }
    if (ref === undefined) usage();
    const changes = findBreaking(root, readConfig(root), ref);
    if (changes.length === 0) {
      console.log(`no breaking schema changes since ${ref}`);
    } else {
      console.log(`breaking schema changes since ${ref}:`);
      for (const c of changes) console.log(`  ${c.package}: ${c.change}`);
      if (args.includes("--require-changeset")) {
        const majors = majorChangesets(root);
        const missing = [...new Set(changes.map((c) => c.package))].filter((p) => !majors.has(p));
        if (missing.length > 0) {
          console.error(`these packages change incompatibly but have no major changeset: ${missing.join(", ")}\nadd one with "npx changeset" (choose major) explaining the migration`);
          process.exit(1);
        }
      }
    }
  } else if (args.includes("--check")) {
    const diffs = checkAll(root);
    if (diffs.length > 0) {
      console.error(`generated code is out of date with the schemas (run "npm run codegen" and commit):\n${diffs.map((d) => `  ${d}`).join("\n")}`);
      process.exit(1);
    }
    console.log("generated code matches the schemas");
  } else {
    usage();
  }
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
