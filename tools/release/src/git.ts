import { execFileSync } from "node:child_process";

export function git(root: string, args: readonly string[]): string {
  return execFileSync("git", args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/** `1.10.0` > `1.9.3`; prerelease suffixes sort before their release. */
function compareVersions(a: string, b: string): number {
  const parse = (v: string): [number[], string] => {
    const [core = "", pre = ""] = v.split("-", 2);
    return [core.split(".").map(Number), pre];
  };
  const [ca, pa] = parse(a);
  const [cb, pb] = parse(b);
  for (let i = 0; i < 3; i++) if ((ca[i] ?? 0) !== (cb[i] ?? 0)) return (ca[i] ?? 0) - (cb[i] ?? 0);
  if (pa === pb) return 0;
  return pa === "" ? 1 : pb === "" ? -1 : pa < pb ? -1 : 1;
}

/** The newest release tag of a package (`@cozebus/workflow@1.3.0`), if it was ever released. */
export function lastReleaseTag(root: string, name: string): string | undefined {
  const tags = git(root, ["tag", "--list", `${name}@*`]).split("\n").filter(Boolean);
  return tags.sort((a, b) => compareVersions(a.slice(name.length + 1), b.slice(name.length + 1))).at(-1);
}

/** Files under `dir` that differ between `tag` and the working tree: committed, modified or new. */
export function changedSince(root: string, tag: string, dir: string): string[] {
  const changed = git(root, ["diff", "--name-only", tag, "--", dir]).split("\n");
  const added = git(root, ["ls-files", "--others", "--exclude-standard", "--", dir]).split("\n");
  return [...new Set([...changed, ...added])].filter(Boolean).sort();
}
