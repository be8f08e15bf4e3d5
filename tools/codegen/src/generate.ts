import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { scaffoldPackage } from "./scaffold.js";

const require = createRequire(import.meta.url);

export interface CodegenConfig {
  readonly schemas: string;
  readonly domains: Readonly<Record<string, { readonly protoPath: string; readonly package: string }>>;
}

/** ts-proto settings (see REFERENCE.md): bigint for 64-bit ids so decoding never throws, Date for timestamps. */
const TS_PROTO_OPTIONS = [
  "outputServices=false",
  "useExactTypes=false",
  "oneof=unions-value",
  "forceLong=bigint",
  "useDate=true",
  "importSuffix=.js",
  "useOptionals=messages",
  "outputTypeAnnotations=static-only",
  "annotateFilesWithVersion=false",
  "esModuleInterop=true",
  // options.proto only carries schema options: map it away so descriptor.proto is not emitted.
  "Mcoze/eventbus/v1/options.proto=./cozebus-options-not-emitted.js",
];

export function readConfig(root: string): CodegenConfig {
  const file = join(root, "codegen.config.json");
  if (!existsSync(file)) throw new Error(`no codegen.config.json in ${root}: run codegen from the repository root`);
  return JSON.parse(readFileSync(file, "utf8")) as CodegenConfig;
}

function bufBinary(): string {
  return require.resolve("@bufbuild/buf/bin/buf");
}

function tsProtoPlugin(): string {
  return join(dirname(require.resolve("ts-proto/package.json")), "protoc-gen-ts_proto");
}

/** The compiled plugin next to this module; from src/ (tests) the built one in dist/. */
function ourPlugin(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, "plugin.js");
  return existsSync(beside) ? beside : join(here, "..", "dist", "plugin.js");
}

/** Where warnings go (the schema builds, but should change): stderr unless a caller collects them. */
export type Warn = (line: string) => void;
const toStderr: Warn = (line) => void process.stderr.write(`${line}\n`);

/**
 * Runs buf generate for one domain into `outDir` (which is emptied first).
 * Returns the warnings (`WARNING: <file>: <message>: ...`), one line each.
 */
export function generateDomain(root: string, config: CodegenConfig, domain: string, outDir: string): string[] {
  const d = config.domains[domain];
  if (d === undefined) throw new Error(`unknown domain "${domain}" (codegen.config.json knows: ${Object.keys(config.domains).join(", ")})`);
  const manifest = join(root, d.package, "package.json");
  if (!existsSync(manifest)) throw new Error(`${d.package}/package.json is missing: run "npm run codegen" (without --check) to scaffold the ${domain} package`);
  const pkg = JSON.parse(readFileSync(manifest, "utf8")) as { name: string };
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const template = {
    version: "v2",
    plugins: [
      { local: tsProtoPlugin(), out: outDir, opt: TS_PROTO_OPTIONS },
      { local: [process.execPath, ourPlugin()], out: outDir, opt: [`package=${pkg.name}`], strategy: "all" },
    ],
  };
  try {
    const r = spawnSync(bufBinary(), ["generate", "--template", JSON.stringify(template), "--path", d.protoPath], {
      cwd: resolve(root, config.schemas),
      stdio: ["ignore", "pipe", "pipe"],
    });
    if (r.error !== undefined) throw r.error;
    if (r.status !== 0) throw Object.assign(new Error(`buf generate exited with ${r.status ?? r.signal}`), { stderr: r.stderr });
    // The plugin's stderr reaches buf's: on success, its warnings (and any of buf's own).
    return r.stderr
      .toString()
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean);
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err);
    throw new Error(`codegen for ${domain} failed:\n${stderr.replace(/^Failure: plugin [^:]+: /m, "")}`);
  }
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out;
}

/** Files that differ between two generated trees (added, removed or changed). */
export function diffTrees(expected: string, actual: string): string[] {
  const a = new Set(listFiles(expected));
  const b = new Set(listFiles(actual));
  const out: string[] = [];
  for (const f of [...new Set([...a, ...b])].sort()) {
    if (!a.has(f)) out.push(`${f}: committed but no longer generated`);
    else if (!b.has(f)) out.push(`${f}: generated but not committed`);
    else if (!readFileSync(join(expected, f)).equals(readFileSync(join(actual, f)))) out.push(`${f}: differs`);
  }
  return out;
}

/** `buf lint` over the whole schema module; its findings name file, line and rule. */
export function lintSchemas(root: string, config: CodegenConfig): void {
  try {
    execFileSync(bufBinary(), ["lint"], { cwd: resolve(root, config.schemas), stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const out = `${(err as { stdout?: Buffer }).stdout?.toString() ?? ""}${(err as { stderr?: Buffer }).stderr?.toString() ?? ""}`.trim();
    throw new Error(`buf lint found problems in ${config.schemas}/:\n${out}`);
  }
}

/** The descriptor set codegen writes beside the schemas, for tools that read events by reflection (`cozebus --schemas`). */
export const DESCRIPTOR_SET = "cozebus.binpb";

/** `buf build` of the whole module (imports included, no source info, so the bytes change only when the schemas do). */
export function buildDescriptorSet(root: string, config: CodegenConfig, outFile: string): void {
  try {
    execFileSync(bufBinary(), ["build", "--exclude-source-info", "-o", outFile], { cwd: resolve(root, config.schemas), stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    throw new Error(`buf build failed in ${config.schemas}/: ${(err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err)}`);
  }
}

/** Regenerates every domain into its package's src/gen; warnings go to `warn` (stderr). */
export function generateAll(root: string, warn: Warn = toStderr): string[] {
  const config = readConfig(root);
  lintSchemas(root, config);
  const done: string[] = [];
  for (const domain of Object.keys(config.domains).sort()) {
    const d = config.domains[domain]!;
    for (const f of scaffoldPackage(root, domain, d.package, d.protoPath)) done.push(`scaffolded ${f}`);
    const tmp = mkdtempSync(join(tmpdir(), `cozebus-codegen-${domain}-`));
    try {
      for (const w of generateDomain(root, config, domain, tmp)) warn(w);
      const gen = join(root, config.domains[domain]!.package, "src", "gen");
      rmSync(gen, { recursive: true, force: true });
      cpSync(tmp, gen, { recursive: true });
      done.push(`${domain} -> ${relative(root, gen)} (${listFiles(gen).length} files)`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const set = resolve(root, config.schemas, DESCRIPTOR_SET);
  buildDescriptorSet(root, config, set);
  done.push(`descriptor set -> ${relative(root, set)}`);
  return done;
}

/** Regenerates into temp dirs and reports every difference from the committed code; warnings go to `warn` (stderr). */
export function checkAll(root: string, warn: Warn = toStderr): string[] {
  const config = readConfig(root);
  lintSchemas(root, config);
  const problems: string[] = [];
  for (const domain of Object.keys(config.domains).sort()) {
    const tmp = mkdtempSync(join(tmpdir(), `cozebus-codegen-check-${domain}-`));
    try {
      for (const w of generateDomain(root, config, domain, tmp)) warn(w);
      const gen = join(root, config.domains[domain]!.package, "src", "gen");
      for (const d of diffTrees(gen, tmp)) problems.push(`${relative(root, gen)}/${d}`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const committed = resolve(root, config.schemas, DESCRIPTOR_SET);
  const tmp = mkdtempSync(join(tmpdir(), "cozebus-codegen-check-set-"));
  try {
    buildDescriptorSet(root, config, join(tmp, DESCRIPTOR_SET));
    if (!existsSync(committed)) problems.push(`${relative(root, committed)}: generated but not committed`);
    else if (!readFileSync(committed).equals(readFileSync(join(tmp, DESCRIPTOR_SET)))) problems.push(`${relative(root, committed)}: differs`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return problems;
}
