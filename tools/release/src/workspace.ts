import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** A package the release publishes (not `private`). */
export interface PublicPackage {
  readonly name: string;
  readonly version: string;
  /** Relative to the repository root, e.g. `packages/workflow`. */
  readonly dir: string;
  /** The other public packages it depends on at run time. */
  readonly dependsOn: readonly string[];
}

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  dependencies?: Record<string, string>;
}

/** `packages/*` -> every folder in packages/ with a package.json; a plain path -> itself (no other glob forms are used here). */
function expand(root: string, pattern: string): string[] {
  if (!pattern.endsWith("/*")) return existsSync(join(root, pattern, "package.json")) ? [pattern] : [];
  const parent = pattern.slice(0, -2);
  return readdirSync(join(root, parent), { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(root, parent, e.name, "package.json")))
    .map((e) => `${parent}/${e.name}`);
}

const manifest = (root: string, dir: string): Manifest => JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8")) as Manifest;

/**
 * The workspace's public packages in dependency order (a package comes after
 * everything it depends on), so a registry never holds a package whose
 * dependency is not there yet.
 */
export function publicPackages(root: string): PublicPackage[] {
  const workspaces = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { workspaces: string[] }).workspaces;
  const dirs = workspaces.flatMap((pattern) => expand(root, pattern)).sort();
  const all = dirs.map((dir) => ({ dir, m: manifest(root, dir) })).filter(({ m }) => m.private !== true);
  const names = new Set(all.map(({ m }) => m.name));
  const pkgs = all.map(({ dir, m }) => ({ name: m.name, version: m.version, dir, dependsOn: Object.keys(m.dependencies ?? {}).filter((d) => names.has(d)) }));
  const ordered: PublicPackage[] = [];
  const visit = (p: PublicPackage, path: readonly string[]): void => {
    if (ordered.includes(p)) return;
    if (path.includes(p.name)) throw new Error(`dependency cycle: ${[...path, p.name].join(" -> ")}`);
    for (const d of p.dependsOn) visit(pkgs.find((x) => x.name === d)!, [...path, p.name]);
    ordered.push(p);
  };
  for (const p of pkgs) visit(p, []);
  return ordered;
}
