#!/usr/bin/env node
/**
 * cozebus-codegen — schemas/ to typed domain packages.
 *
 *   cozebus-codegen            regenerate every domain's src/gen
 *   cozebus-codegen --check    fail (exit 1) when committed src/gen differs from the schemas
 *   cozebus-codegen new-event <domain> <Name> [--at-most-once]
 *                              add an event to the domain's schema (qos at least once, or at most
 *                              once; --core is the old name of --at-most-once), regenerate, write
 *                              a changeset
 *   cozebus-codegen breaking --against <git ref> | --against-last-release [--require-changeset]
 *                              list breaking schema changes (buf breaking + subjects, qualities of
 *                              service, operations), each domain against its own last release tag with
 *                              --against-last-release; with --require-changeset, fail unless each
 *                              affected package has a major changeset
 *
 * Run from the repository root (where codegen.config.json is).
 * Schema warnings (the deprecated `delivery` option) go to stderr and do not fail the run.
 * Exit codes: 0 ok, 1 check found differences, 2 schema or usage error.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { findBreaking, majorChangesets, type BreakingChange } from "./breaking.js";
import { checkAll, generateAll, readConfig, type CodegenConfig } from "./generate.js";
import { newEvent } from "./new-event.js";

/**
 * Each domain package's newest release tag (`@cozebus/agent@1.3.0`, as the
 * release tooling tags them), grouped by tag. Packages are released on their
 * own, so each is compared with its own last release: the newest tag of some
 * other package may already contain an unreleased breaking change.
 */
function lastReleases(root: string, config: CodegenConfig): Map<string, string[]> {
  const byTag = new Map<string, string[]>();
  for (const d of Object.values(config.domains)) {
    const name = (JSON.parse(readFileSync(join(root, d.package, "package.json"), "utf8")) as { name: string }).name;
    let tag: string | undefined;
    try {
      tag = execFileSync("git", ["tag", "--list", `${name}@*`, "--sort=-version:refname"], { cwd: root }).toString().split("\n").find(Boolean);
    } catch {
      tag = undefined; // not a git checkout: nothing to compare with
    }
    if (tag !== undefined) byTag.set(tag, [...(byTag.get(tag) ?? []), name]);
  }
  return byTag;
}

const args = process.argv.slice(2);
const root = process.cwd();

function usage(): never {
  console.error("usage: cozebus-codegen [--check] | new-event <domain> <Name> [--at-most-once] | breaking --against <git ref> [--require-changeset]");
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
    const r = newEvent(root, domain, name, args.includes("--at-most-once") || args.includes("--core") ? "at-most-once" : "at-least-once");
    console.log(`added ${r.message} (${r.subject}) to ${r.protoFile}`);
    for (const line of r.generated) console.log(`regenerated ${line}`);
    console.log(`wrote ${r.changeset}\nnow describe the event and its fields in the .proto comments, add fields, and run "npm run codegen"`);
  } else if (args[0] === "breaking") {
    const config = readConfig(root);
    const i = args.indexOf("--against");
    let groups: Map<string, string[] | undefined>;
    if (i > 0) {
      const ref = args[i + 1];
      if (ref === undefined) usage();
      groups = new Map([[ref, undefined]]);
    } else if (args.includes("--against-last-release")) {
      groups = lastReleases(root, config);
      if (groups.size === 0) {
        console.log("no domain package has a release tag yet (@cozebus/<package>@<version>): nothing to compare the schemas against");
        process.exit(0);
      }
    } else usage();
    const changes: BreakingChange[] = [];
    for (const [ref, packages] of groups) {
      const found = findBreaking(root, config, ref).filter((c) => packages === undefined || packages.includes(c.package));
      console.log(found.length === 0 ? `no breaking schema changes since ${ref}${packages ? ` for ${packages.join(", ")}` : ""}` : `breaking schema changes since ${ref}:`);
      for (const c of found) console.log(`  ${c.package}: ${c.change}`);
      changes.push(...found);
    }
    if (changes.length > 0 && args.includes("--require-changeset")) {
      const majors = majorChangesets(root);
      const missing = [...new Set(changes.map((c) => c.package))].filter((p) => !majors.has(p));
      if (missing.length > 0) {
        console.error(`these packages change incompatibly but have no major changeset: ${missing.join(", ")}\nadd one with "npx changeset" (choose major) explaining the migration`);
        process.exit(1);
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
