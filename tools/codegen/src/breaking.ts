import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { CodegenConfig } from "./generate.js";
import type { DomainModel } from "./model.js";
import { readSchemas } from "./read-schemas.js";

const require = createRequire(import.meta.url);
const buf = (): string => require.resolve("@bufbuild/buf/bin/buf");

export interface BreakingChange {
  /** The npm package that must take a major version for it. */
  readonly package: string;
  readonly domain: string;
  readonly change: string;
}

function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] }).toString();
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer; status?: number };
    const out = `${e.stdout?.toString() ?? ""}${e.stderr?.toString() ?? ""}`;
    throw Object.assign(new Error(out.trim() || String(err)), { status: e.status, output: out });
  }
}

/** Reads the domain models of a schema tree (every file of every configured domain). */
function modelsOf(schemasDir: string, config: CodegenConfig): DomainModel[] {
  const out = join(mkdtempSync(join(tmpdir(), "cozebus-breaking-")), "image.binpb");
  try {
    run(buf(), ["build", "--as-file-descriptor-set", "-o", out], schemasDir);
    const set = fromBinary(FileDescriptorSetSchema, new Uint8Array(readFileSync(out)));
    const prefixes = Object.values(config.domains).map((d) => `${d.protoPath}/`);
    const files = set.file.map((f) => f.name).filter((n) => prefixes.some((p) => n.startsWith(p)));
    return readSchemas(set.file, files).domains;
  } finally {
    rmSync(resolve(out, ".."), { recursive: true, force: true });
  }
}

/**
 * What buf breaking cannot see: custom option values. A changed subject or
 * quality of service breaks every deployed subscriber and stream just as
 * surely as a changed field type. The quality of service compared is the
 * effective one, so moving from the deprecated `delivery: DELIVERY_JETSTREAM`
 * to `qos: QUALITY_OF_SERVICE_AT_LEAST_ONCE` (what a release from before qos
 * is compared with) is no change.
 */
export function diffOptions(before: readonly DomainModel[], after: readonly DomainModel[]): Array<{ domain: string; change: string }> {
  const out: Array<{ domain: string; change: string }> = [];
  for (const old of before) {
    const now = after.find((d) => d.name === old.name);
    for (const e of old.events) {
      const n = now?.events.find((x) => x.type === e.type);
      if (n === undefined) out.push({ domain: old.name, change: `event ${e.type} was removed` });
      else {
        if (n.subject !== e.subject) out.push({ domain: old.name, change: `event ${e.type}: subject ${e.subject} -> ${n.subject}` });
        if (n.qos !== e.qos) out.push({ domain: old.name, change: `event ${e.type}: qos ${e.qos} -> ${n.qos}` });
      }
    }
    for (const o of old.operations) {
      const n = now?.operations.find((x) => x.method === o.method);
      if (n === undefined) out.push({ domain: old.name, change: `operation ${o.method} was removed` });
      else if (n.subject !== o.subject) out.push({ domain: old.name, change: `operation ${o.method}: subject ${o.subject} -> ${n.subject}` });
    }
  }
  return out;
}

/** Runs buf breaking and the option diff against a git ref; returns every breaking change by package. */
export function findBreaking(root: string, config: CodegenConfig, ref: string): BreakingChange[] {
  const schemas = resolve(root, config.schemas);
  const pkgOf = (domain: string): string => {
    const d = config.domains[domain];
    return d === undefined ? `@cozebus/${domain}` : (JSON.parse(readFileSync(join(root, d.package, "package.json"), "utf8")) as { name: string }).name;
  };
  const changes: BreakingChange[] = [];

  // 1. Wire and API compatibility (field numbers, types, removals) by buf.
  try {
    run(buf(), ["breaking", "--against", `${join(root, ".git")}#ref=${ref},subdir=${config.schemas}`, "--error-format", "text"], schemas);
  } catch (err) {
    const output = (err as { output?: string }).output ?? (err as Error).message;
    for (const line of output.split("\n").filter(Boolean)) {
      const domain = Object.entries(config.domains).find(([, d]) => line.startsWith(d.protoPath + "/"))?.[0];
      if (domain === undefined && !/^[\w/.-]+\.proto:/.test(line)) throw new Error(`buf breaking failed: ${output.trim()}`);
      changes.push({ domain: domain ?? "?", package: domain ? pkgOf(domain) : "?", change: line.trim() });
    }
  }

  // 2. Subjects, qualities of service and operations, which buf ignores.
  const old = mkdtempSync(join(tmpdir(), "cozebus-breaking-old-"));
  try {
    const archive = execFileSync("git", ["archive", ref, config.schemas], { cwd: root });
    execFileSync("tar", ["-x", "-C", old], { input: archive });
    const before = existsSync(join(old, config.schemas)) && readdirSync(join(old, config.schemas)).length > 0 ? modelsOf(join(old, config.schemas), config) : [];
    const after = modelsOf(schemas, config);
    for (const c of diffOptions(before, after)) changes.push({ ...c, package: pkgOf(c.domain) });
  } finally {
    rmSync(old, { recursive: true, force: true });
  }
  return changes;
}

/** Packages bumped `major` by a pending changeset in `.changeset/`. */
export function majorChangesets(root: string): Set<string> {
  const dir = join(root, ".changeset");
  const out = new Set<string>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".md") && n !== "README.md")) {
    const front = /^---\n([\s\S]*?)\n---/.exec(readFileSync(join(dir, f), "utf8"))?.[1] ?? "";
    for (const m of front.matchAll(/^\s*["']?([^"':]+)["']?\s*:\s*major\s*$/gm)) out.add(m[1]!.trim());
  }
  return out;
}
