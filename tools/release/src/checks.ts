import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { publint } from "publint";
import { formatMessage } from "publint/utils";
import type { PublicPackage } from "./workspace.js";

const require = createRequire(import.meta.url);

/** publint in strict mode: every message (error, warning, suggestion) is a problem. */
export async function publintProblems(root: string, p: PublicPackage): Promise<string[]> {
  const dir = join(root, p.dir);
  const { messages } = await publint({ pkgDir: dir, strict: true, level: "suggestion" });
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Record<string, unknown>;
  return messages.map((m) => `${p.name}: publint ${m.type}: ${formatMessage(m, pkg) ?? m.code}`);
}

function attwBinary(): string {
  const pkg = require.resolve("@arethetypeswrong/cli/package.json");
  return join(pkg, "..", "dist", "index.js");
}

/**
 * Are the Types Wrong, on the packed tarball: the types each `exports` entry
 * resolves to under node16 (ESM) and bundler resolution. Profile esm-only:
 * the packages are ESM-only by design, so CommonJS `require` is not checked.
 */
export function attwProblems(root: string, p: PublicPackage): string[] {
  try {
    execFileSync(process.execPath, [attwBinary(), "--pack", join(root, p.dir), "--profile", "esm-only", "--format", "ascii", "--no-emoji", "--no-color"], {
      stdio: ["ignore", "pipe", "pipe"],
      encoding: "utf8",
    });
    return [];
  } catch (err) {
    const out = `${(err as { stdout?: string }).stdout ?? ""}${(err as { stderr?: string }).stderr ?? ""}`.trim();
    return [`${p.name}: attw found type resolution problems:\n${out}`];
  }
}
