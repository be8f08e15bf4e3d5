import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { changesetCoverage, pendingChangesets } from "../src/changesets.js";
import { lastReleaseTag } from "../src/git.js";
import { publicPackages } from "../src/workspace.js";

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

const git = (root: string, ...args: string[]): string => execFileSync("git", args, { cwd: root, encoding: "utf8" });
const write = (root: string, file: string, text: string): void => {
  mkdirSync(join(root, file, ".."), { recursive: true });
  writeFileSync(join(root, file), text);
};

/** A two-package workspace (core <- domain) plus a private tool, committed, with core released as 1.0.0. */
function workspace(): string {
  const root = mkdtempSync(join(tmpdir(), "cozebus-coverage-"));
  roots.push(root);
  write(root, "package.json", JSON.stringify({ private: true, workspaces: ["packages/*", "tools/*"] }));
  write(root, "packages/core/package.json", JSON.stringify({ name: "@x/core", version: "1.0.0" }));
  write(root, "packages/core/src/index.ts", "export const a = 1;\n");
  write(root, "packages/domain/package.json", JSON.stringify({ name: "@x/domain", version: "1.0.0", dependencies: { "@x/core": "^1.0.0" } }));
  write(root, "tools/bench/package.json", JSON.stringify({ name: "@x/bench", version: "0.0.0", private: true }));
  write(root, ".changeset/README.md", "# Changesets\n");
  git(root, "init", "-q");
  git(root, "-c", "user.email=t@x.invalid", "-c", "user.name=t", "add", "-A");
  git(root, "-c", "user.email=t@x.invalid", "-c", "user.name=t", "commit", "-q", "-m", "init");
  git(root, "tag", "@x/core@1.0.0");
  return root;
}

describe("release tooling: packages and changeset coverage", () => {
  it("lists public packages in dependency order and leaves private tools out", () => {
    const root = workspace();
    expect(publicPackages(root).map((p) => [p.name, p.dir, p.dependsOn])).toEqual([
      ["@x/core", "packages/core", []],
      ["@x/domain", "packages/domain", ["@x/core"]],
    ]);
  });

  it("a shipped file changed since the release without a changeset fails, saying how to add one", () => {
    const root = workspace();
    expect(changesetCoverage(root, publicPackages(root)).problems).toEqual([]);
    write(root, "packages/core/src/index.ts", "export const a = 2;\n");
    const { problems, report } = changesetCoverage(root, publicPackages(root));
    expect(problems).toEqual([
      '@x/core changed since @x/core@1.0.0 (packages/core/src/index.ts) but no changeset names it: run "npx changeset", select @x/core, pick patch, minor or major (a breaking change is major; see docs/releasing.md) and describe the change for its CHANGELOG',
    ]);
    expect(report).toContain("@x/domain: never released, nothing to compare");
  });

  it("tests alone need no changeset; a changeset naming the package, or a new version, covers a change", () => {
    const root = workspace();
    write(root, "packages/core/test/a.test.ts", "// a test\n");
    expect(changesetCoverage(root, publicPackages(root)).problems).toEqual([]);
    write(root, "packages/domain/src/new.ts", "export {};\n"); // a new, uncommitted file counts too
    git(root, "tag", "@x/domain@1.0.0");
    expect(changesetCoverage(root, publicPackages(root)).problems).toEqual([expect.stringMatching(/^@x\/domain changed since @x\/domain@1\.0\.0 \(packages\/domain\/src\/new\.ts\)/)]);
    rmSync(join(root, "packages/domain/src/new.ts"));
    write(root, "packages/core/src/index.ts", "export const a = 3;\n");
    write(root, ".changeset/brave-fox.md", '---\n"@x/core": minor\n"@x/domain": patch\n---\n\nA change.\n');
    expect(pendingChangesets(root).get("brave-fox.md")).toEqual(new Map([["@x/core", "minor"], ["@x/domain", "patch"]]));
    expect(changesetCoverage(root, publicPackages(root)).problems).toEqual([]);
    rmSync(join(root, ".changeset/brave-fox.md"));
    write(root, "packages/core/package.json", JSON.stringify({ name: "@x/core", version: "1.1.0" })); // what `changeset version` does
    expect(changesetCoverage(root, publicPackages(root))).toMatchObject({ problems: [], report: expect.arrayContaining(["@x/core: versioned 1.1.0 since @x/core@1.0.0, ready to release"]) });
  });

  it("the last release is the highest version, not the last tag in text order", () => {
    const root = workspace();
    for (const v of ["1.9.3", "1.10.0", "1.2.0"]) git(root, "tag", `@x/core@${v}`);
    expect(lastReleaseTag(root, "@x/core")).toBe("@x/core@1.10.0");
    expect(lastReleaseTag(root, "@x/domain")).toBeUndefined();
  });
});
