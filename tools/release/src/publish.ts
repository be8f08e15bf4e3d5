import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { git } from "./git.js";
import type { PublicPackage } from "./workspace.js";

/** npm, bounded in time, with its output captured for the error message. */
function npm(args: readonly string[], cwd: string): string {
  return execFileSync("npm", [...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
}

const registryArgs = (registry: string | undefined): string[] => (registry ? ["--registry", registry] : []);

/** Whether `name@version` is already on the registry (a 404 means not). */
export function isPublished(root: string, p: PublicPackage, registry: string | undefined): boolean {
  try {
    return npm(["view", `${p.name}@${p.version}`, "version", ...registryArgs(registry)], root).trim() === p.version;
  } catch (err) {
    const out = `${(err as { stderr?: string }).stderr ?? ""}`;
    if (/E404|404 Not Found|is not in this registry/.test(out)) return false;
    throw new Error(`cannot ask the registry whether ${p.name}@${p.version} exists: ${out.trim().split("\n").slice(0, 3).join(" ")}`, { cause: err });
  }
}

export interface PackedFile {
  readonly path: string;
  readonly size: number;
}

/** What `npm publish` would upload: the tarball's files, from `npm pack --dry-run`. */
export function packContents(root: string, p: PublicPackage): PackedFile[] {
  const json = JSON.parse(npm(["pack", "--dry-run", "--json", "--ignore-scripts"], join(root, p.dir))) as Array<{ files: PackedFile[] }>;
  return json[0]?.files.map((f) => ({ path: f.path, size: f.size })) ?? [];
}

/** Publishes one package, then tags the commit `<name>@<version>` (tags are pushed by the person releasing). */
export function publishPackage(root: string, p: PublicPackage, registry: string | undefined): void {
  try {
    npm(["publish", "--access", "public", "--ignore-scripts", ...registryArgs(registry)], join(root, p.dir));
  } catch (err) {
    const out = `${(err as { stderr?: string }).stderr ?? ""}`.trim().split("\n").filter((l) => /error/i.test(l)).slice(0, 5).join("\n");
    throw new Error(`npm publish of ${p.name}@${p.version} failed:\n${out}`, { cause: err });
  }
  const tag = `${p.name}@${p.version}`;
  if (git(root, ["tag", "--list", tag]) === "") git(root, ["tag", "-a", tag, "-m", tag]);
}
