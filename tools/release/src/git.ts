import { execFileSync } from "node:child_process";

export function git(root: string, args: readonly string[]): string {
  return execFileSync("git", args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/**
 * The newest release tag of a package (`@cozebus/workflow@1.3.0`), if it was
 * ever released; git's version sort, as `codegen breaking` uses it.
 */
export function lastReleaseTag(root: string, name: string): string | undefined {
  return git(root, ["tag", "--list", `${name}@*`, "--sort=-version:refname"]).split("\n").find(Boolean);
}

/** Files under `dir` that differ between `tag` and the working tree: committed, modified or new. */
export function changedSince(root: string, tag: string, dir: string): string[] {
  const changed = git(root, ["diff", "--name-only", tag, "--", dir]).split("\n");
  const added = git(root, ["ls-files", "--others", "--exclude-standard", "--", dir]).split("\n");
  return [...new Set([...changed, ...added])].filter(Boolean).sort();
}
