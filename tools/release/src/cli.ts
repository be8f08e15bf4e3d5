#!/usr/bin/env node
/**
 * cozebus release tooling.
 *
 *   node tools/release/dist/cli.js check                 publint + attw for every public package, changeset coverage
 *   node tools/release/dist/cli.js release [--dry-run] [--registry <url>]
 *
 * `npm run release` = build, then `release`. Exit codes: 0 done, 1 a check or
 * a publish failed, 2 usage.
 */
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import { changesetCoverage, pendingChangesets } from "./changesets.js";
import { attwProblems, publintProblems } from "./checks.js";
import { isPublished, packContents, publishPackage } from "./publish.js";
import { publicPackages, type PublicPackage } from "./workspace.js";

const out = (line: string): void => void process.stdout.write(`${line}\n`);
const fail = (line: string): void => void process.stderr.write(`${line}\n`);

/**
 * The checks a release must pass; also run by `npm test`. Returns the
 * problems found. publint and attw look at `pkgs` (a release: what it is
 * about to publish); changeset coverage always looks at every package.
 */
async function check(root: string, pkgs: readonly PublicPackage[], all: readonly PublicPackage[] = pkgs): Promise<string[]> {
  const problems: string[] = [];
  for (const p of pkgs) {
    const found = [...(await publintProblems(root, p)), ...attwProblems(root, p)];
    out(`${found.length === 0 ? "ok  " : "FAIL"}  ${p.name}@${p.version}: publint (strict) and attw (esm-only)`);
    problems.push(...found);
  }
  const coverage = changesetCoverage(root, all);
  for (const line of coverage.report) out(`ok    ${line}`);
  problems.push(...coverage.problems);
  return problems;
}

async function release(root: string, pkgs: readonly PublicPackage[], dryRun: boolean, registry: string | undefined): Promise<number> {
  const pending = pendingChangesets(root);
  if (pending.size > 0) {
    const message = `${pending.size} pending changeset(s) (${[...pending.keys()].join(", ")}): run "npm run version-packages" and commit the new versions and CHANGELOGs first`;
    if (!dryRun) {
      fail(`cozebus release: ${message}`);
      return 1;
    }
    out(`note: ${message}; showing what the current versions would publish`);
  }
  // What is already on the registry needs no checks: packing and type-analysing every package
  // takes minutes on a small machine, and a re-run after a partial release should be quick.
  const todo = pkgs.filter((p) => !isPublished(root, p, registry));
  if (todo.length === 0) {
    out("nothing to publish: every package's version is already on the registry");
    return 0;
  }
  const problems = await check(root, todo, pkgs);
  if (problems.length > 0) {
    for (const p of problems) fail(`cozebus release: ${p}`);
    return 1;
  }
  execFileSync(process.execPath, ["tools/codegen/dist/cli.js", "--check"], { cwd: root, stdio: "inherit" });
  for (const p of pkgs) if (!todo.includes(p)) out(`skip  ${p.name}@${p.version}: already published`);
  for (const p of todo) {
    if (dryRun) {
      const files = packContents(root, p);
      out(`would publish ${p.name}@${p.version} (tag ${p.name}@${p.version}), ${files.length} files, ${files.reduce((s, f) => s + f.size, 0)} bytes:`);
      for (const f of files) out(`    ${f.path}  ${f.size}`);
      continue;
    }
    publishPackage(root, p, registry);
    out(`published ${p.name}@${p.version} and tagged it`);
  }
  if (!dryRun) out(`push the tags: git push --follow-tags (or git push origin ${todo.map((p) => `${p.name}@${p.version}`).join(" ")})`);
  return 0;
}

async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { "dry-run": { type: "boolean", default: false }, registry: { type: "string" }, root: { type: "string" } },
  });
  const root = values.root ?? process.cwd();
  const pkgs = publicPackages(root);
  const [command] = positionals;
  if (command === "check") {
    const problems = await check(root, pkgs);
    for (const p of problems) fail(`cozebus release check: ${p}`);
    return problems.length === 0 ? 0 : 1;
  }
  if (command === "release") return release(root, pkgs, values["dry-run"], values.registry);
  process.stderr.write("usage: cli.js check | release [--dry-run] [--registry <url>] [--root <dir>]\n");
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`cozebus release: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
