import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { changedSince, lastReleaseTag } from "./git.js";
import type { PublicPackage } from "./workspace.js";

export type Bump = "patch" | "minor" | "major";

/** Pending changesets: file name -> the bump each names per package. */
export function pendingChangesets(root: string): Map<string, ReadonlyMap<string, Bump>> {
  const dir = join(root, ".changeset");
  const out = new Map<string, ReadonlyMap<string, Bump>>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".md") && f !== "README.md")) {
    const text = readFileSync(join(dir, file), "utf8");
    const front = /^---\n([\s\S]*?)\n---/.exec(text)?.[1] ?? "";
    const bumps = new Map<string, Bump>();
    for (const m of front.matchAll(/^\s*["']?([^"':\s]+)["']?\s*:\s*(patch|minor|major)\s*$/gm)) bumps.set(m[1]!, m[2] as Bump);
    out.set(file, bumps);
  }
  return out;
}

/** Changes that do not reach users of the package: its tests and test settings. */
const NOT_SHIPPED = /(^|\/)(test|tests|__tests__)\/|\.test\.ts$|(^|\/)vitest\.config\.[cm]?[jt]s$|(^|\/)CHANGELOG\.md$/;

export interface Coverage {
  /** Packages changed since their last release with no pending changeset naming them. */
  readonly problems: readonly string[];
  /** One line per package: what was found. */
  readonly report: readonly string[];
}

/**
 * Every published package whose shipped files changed since its last release
 * tag needs a pending changeset that names it; otherwise the change would
 * never be released (or would be released under the wrong version).
 */
export function changesetCoverage(root: string, pkgs: readonly PublicPackage[]): Coverage {
  const named = new Set([...pendingChangesets(root).values()].flatMap((b) => [...b.keys()]));
  const problems: string[] = [];
  const report: string[] = [];
  for (const p of pkgs) {
    const tag = lastReleaseTag(root, p.name);
    if (tag === undefined) {
      report.push(`${p.name}: never released, nothing to compare`);
      continue;
    }
    if (tag !== `${p.name}@${p.version}`) {
      report.push(`${p.name}: versioned ${p.version} since ${tag}, ready to release`);
      continue;
    }
    const changed = changedSince(root, tag, p.dir).filter((f) => !NOT_SHIPPED.test(f.slice(p.dir.length + 1)));
    if (changed.length === 0) report.push(`${p.name}: unchanged since ${tag}`);
    else if (named.has(p.name)) report.push(`${p.name}: ${changed.length} files changed since ${tag}, covered by a changeset`);
    else {
      const shown = changed.slice(0, 3).join(", ") + (changed.length > 3 ? ` and ${changed.length - 3} more` : "");
      problems.push(
        `${p.name} changed since ${tag} (${shown}) but no changeset names it: run "npx changeset", select ${p.name}, ` +
          `pick patch, minor or major (a breaking change is major; see docs/releasing.md) and describe the change for its CHANGELOG`,
      );
    }
  }
  return { problems, report };
}
