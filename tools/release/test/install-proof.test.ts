import { execFileSync, type ExecFileSyncOptions } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import { seedRegistry, startLocalRegistry, type LocalRegistry } from "./registry.js";

/**
 * The proof that a release installs and works where this repository has never
 * been: every public package is published with the release command to a real
 * registry (verdaccio, loopback only), then a fresh project installs
 * @cozebus/workflow and @cozebus/cli from that registry alone, type-checks a
 * small service through the packages' `exports` maps, runs it against a real
 * nats-server, and runs `npx cozebus events`. Finally one domain is bumped
 * with a changeset and released again: only it (and its dependents, by the
 * changesets rules) move.
 *
 * It copies the built packages, so tools/release lists every public package
 * as a devDependency: turbo then builds them all before this test starts.
 */
const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const PUBLIC = ["@cozebus/core", "@cozebus/nats", "@cozebus/testing", "@cozebus/codegen", "@cozebus/workflow", "@cozebus/agent", "@cozebus/knowledge", "@cozebus/cli"];

let tmp: string;
let copy: string;
let registry: LocalRegistry;
let server: NatsServer;
let env: NodeJS.ProcessEnv;

const run = (cmd: string, args: readonly string[], options: ExecFileSyncOptions & { cwd: string }): string =>
  execFileSync(cmd, [...args], { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 600_000, ...options }) as string;

/** What the registry says is the latest version of a package. */
const latest = (name: string): string => run("npm", ["view", name, "version"], { cwd: tmp }).trim();
const versionIn = (dir: string, pkg: string): string => (JSON.parse(readFileSync(join(dir, pkg, "package.json"), "utf8")) as { version: string }).version;
const DIRS: Record<string, string> = {
  "@cozebus/core": "packages/core",
  "@cozebus/nats": "packages/nats",
  "@cozebus/testing": "packages/testing",
  "@cozebus/codegen": "tools/codegen",
  "@cozebus/workflow": "packages/workflow",
  "@cozebus/agent": "packages/agent",
  "@cozebus/knowledge": "packages/knowledge",
  "@cozebus/cli": "packages/cli",
};

/** `changeset version` in the copy, then a commit, as the person releasing would. */
function versionPackages(): void {
  run(process.execPath, [join(REPO, "node_modules/@changesets/cli/bin.js"), "version"], { cwd: copy });
  run("git", ["add", "-A"], { cwd: copy });
  run("git", ["commit", "-q", "-m", "version packages"], { cwd: copy });
}

const release = (): string => run(process.execPath, ["tools/release/dist/cli.js", "release", "--registry", registry.url], { cwd: copy });

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "cozebus-release-"));
  // A copy of the repository as it is (built, with its git history) where tags and version bumps cannot touch the real one.
  // Its own clone, never a copy of .git: in a git worktree .git is a file pointing at the shared repository,
  // and the test's commits and tags would land there.
  copy = join(tmp, "repo");
  run("git", ["clone", "-q", REPO, copy], { cwd: tmp });
  cpSync(REPO, copy, { recursive: true, filter: (src) => !/(^|\/)(node_modules|\.turbo|coverage|\.git)(\/|$)/.test(relative(REPO, src)) });
  symlinkSync(join(REPO, "node_modules"), join(copy, "node_modules"), "dir");
  run("git", ["config", "user.email", "release-test@cozebus.invalid"], { cwd: copy });
  run("git", ["config", "user.name", "release test"], { cwd: copy });
  run("git", ["add", "-A"], { cwd: copy });
  run("git", ["commit", "-q", "--allow-empty", "-m", "the tree under test"], { cwd: copy });

  registry = await startLocalRegistry(join(tmp, "registry"));
  env = { ...process.env, npm_config_userconfig: registry.npmrc, npm_config_registry: registry.url, npm_config_cache: join(tmp, "npm-cache"), npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" };
  // Third-party dependencies come from this repository's node_modules: the registry has no uplink to the internet.
  // (What the fresh project installs: the CLI, which brings every domain and @cozebus/testing, and @cozebus/nats.)
  const closure = run("npm", ["ls", "--omit=dev", "--all", "--parseable", "-w", "@cozebus/cli", "-w", "@cozebus/nats"], { cwd: REPO })
    .split("\n")
    .filter((d) => d.includes("/node_modules/") && !d.includes("/node_modules/@cozebus/"));
  const seedStart = performance.now();
  const seeded = await seedRegistry([...new Set(closure), join(REPO, "node_modules/@types/node"), join(REPO, "node_modules/undici-types")], env, tmp);
  console.log(`registry seeded with ${seeded.length} third-party packages in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);
  server = await startNatsServer();
}, 480_000); // copies the repository and packs every third-party dependency into the registry: over 180 s at load 20+

afterAll(async () => {
  await server?.stop();
  await registry?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("a release, installed from a real registry", () => {
  it("publishes every public package with the release command, a tag each, and --dry-run publishes nothing", () => {
    // The repository carries pending changesets: the release refuses until they are versioned.
    expect(() => release()).toThrow(/pending changeset\(s\).*npm run version-packages/s);
    versionPackages();

    const dry = run(process.execPath, ["tools/release/dist/cli.js", "release", "--dry-run", "--registry", registry.url], { cwd: copy });
    for (const name of PUBLIC) expect(dry).toContain(`would publish ${name}@${versionIn(copy, DIRS[name]!)}`);
    expect(dry).toMatch(/would publish @cozebus\/cli@\S+ .*\n(\s+\S+\s+\d+\n)*\s+dist\/main\.js\s+\d+/);
    expect(dry).not.toMatch(/\n\s+(src|test)\/\S+\s+\d+\n/); // sources and tests never ship
    expect(() => latest("@cozebus/nats")).toThrow(/E404|404/); // the dry run published nothing

    const out = release();
    for (const name of PUBLIC) {
      const version = versionIn(copy, DIRS[name]!);
      expect(out).toContain(`published ${name}@${version}`);
      expect(latest(name)).toBe(version);
      expect(run("git", ["tag", "--list", `${name}@${version}`], { cwd: copy }).trim()).toBe(`${name}@${version}`);
    }
    expect(release()).toContain("nothing to publish");
  }, 600_000); // 13 packages published one by one: minutes on a loaded 2-core machine

  it("a fresh project installs @cozebus/workflow and @cozebus/cli from it, type-checks a service, runs it and the CLI", () => {
    const app = join(tmp, "app");
    mkdirSync(join(app, "src"), { recursive: true });
    writeFileSync(
      join(app, "package.json"),
      JSON.stringify({
        name: "proof-app",
        private: true,
        type: "module",
        // Node 20: @nats-io 3.4 pulls @nats-io/nuid 3.0.0, which needs Node 22 (docs/releasing.md).
        overrides: { "@nats-io/nuid": "2.0.3" },
      }),
    );
    writeFileSync(join(app, ".npmrc"), `registry=${registry.url}\n`);
    run("npm", ["install", "@cozebus/workflow", "@cozebus/nats", "@cozebus/cli", "@types/node@20"], { cwd: app });
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, outDir: "dist", types: ["node"], skipLibCheck: false }, include: ["src"] }),
    );
    writeFileSync(
      join(app, "src/service.ts"),
      `import { openBus } from "@cozebus/nats";
import { workflow, type WorkflowEvent } from "@cozebus/workflow";

const bus = await openBus({ servers: process.env["NATS_SERVER_URL"] ?? "", env: {} });
const wf = workflow(bus);
await wf.provision();
const received = new Promise<string>((resolve) => {
  void wf.executionStarted.subscribe((event) => resolve(event.workflowId), { group: "proof" });
});
const receipt = await wf.executionStarted.publish({ workflowId: "wf_proof", executeId: 1n, startedAt: new Date() });
const kind: WorkflowEvent["type"] = "executionStarted";
console.log(\`\${kind} stored in \${receipt.position?.split("#")[0] ?? "?"}; received \${await received}\`);
await bus.drain();
`,
    );
    // If the types did not resolve (an any), these expected errors would be unused, and that is an error too.
    writeFileSync(
      join(app, "src/types-are-real.ts"),
      `import type { Bus } from "@cozebus/nats";
import { workflow } from "@cozebus/workflow";

export async function wrong(bus: Bus): Promise<void> {
  // @ts-expect-error workflowId is a string
  await workflow(bus).executionStarted.publish({ workflowId: 42 });
  // @ts-expect-error no such event
  await workflow(bus).executionExploded.publish({});
}
`,
    );
    run(process.execPath, [join(REPO, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], { cwd: app });
    const service = run(process.execPath, ["dist/service.js"], { cwd: app, env: { ...env, NATS_SERVER_URL: server.url } });
    expect(service.trim()).toBe("executionStarted stored in COZE_WORKFLOW; received wf_proof");

    const events = run("npx", ["--no-install", "cozebus", "events", "--json"], { cwd: app });
    const rows = events.trim().split("\n").map((l) => JSON.parse(l) as { type?: string; package: string });
    expect(rows.some((r) => r.type === "coze.workflow.v1.WorkflowExecutionStarted" && r.package === "@cozebus/workflow")).toBe(true);
  }, 180_000);

  it("a changeset for one domain releases that domain (and the CLI that bundles its catalogue), nothing else", () => {
    const before = Object.fromEntries(PUBLIC.map((n) => [n, latest(n)]));
    writeFileSync(join(copy, ".changeset/agent-archived.md"), '---\n"@cozebus/agent": minor\n---\n\nNew event `AgentArchived`.\n');
    versionPackages();
    const out = release();
    const after = Object.fromEntries(PUBLIC.map((n) => [n, latest(n)]));
    const moved = PUBLIC.filter((n) => after[n] !== before[n]);
    expect(moved).toEqual(["@cozebus/agent", "@cozebus/cli"]);
    const [maj, min] = before["@cozebus/agent"]!.split(".").map(Number);
    expect(after["@cozebus/agent"]).toBe(`${maj}.${min! + 1}.0`);
    const [cmaj, cmin, cpatch] = before["@cozebus/cli"]!.split(".").map(Number);
    expect(after["@cozebus/cli"]).toBe(`${cmaj}.${cmin}.${cpatch! + 1}`); // patch: only its dependency range moved
    expect(out.match(/^published /gm)).toHaveLength(2);
    expect(readFileSync(join(copy, "packages/agent/CHANGELOG.md"), "utf8")).toContain("New event `AgentArchived`.");
    // ...and ships in the tarball, so `npm view`/the installed package shows what changed.
    const packed = JSON.parse(run("npm", ["pack", `@cozebus/agent@${after["@cozebus/agent"]!}`, "--dry-run", "--json"], { cwd: tmp })) as Array<{ files: Array<{ path: string }> }>;
    expect(packed[0]!.files.map((f) => f.path)).toContain("CHANGELOG.md");
  }, 180_000);

  it("a patch of the core releases only the core: the domains' ranges already accept it", () => {
    const before = Object.fromEntries(PUBLIC.map((n) => [n, latest(n)]));
    writeFileSync(join(copy, ".changeset/core-fix.md"), '---\n"@cozebus/nats": patch\n---\n\nA fix.\n');
    versionPackages();
    release();
    const moved = PUBLIC.filter((n) => latest(n) !== before[n]);
    expect(moved).toEqual(["@cozebus/nats"]);
  }, 180_000);

  it("with release tags in place, npm test's guards bite: an unreleased change needs a changeset, a breaking schema change a major one", () => {
    const fail = (args: readonly string[]): { code: number; stdout: string; stderr: string } => {
      try {
        return { code: 0, stdout: run(process.execPath, args, { cwd: copy }), stderr: "" };
      } catch (err) {
        const e = err as { status: number; stdout: string; stderr: string };
        return { code: e.status, stdout: e.stdout, stderr: e.stderr };
      }
    };
    const knowledge = `@cozebus/knowledge@${versionIn(copy, "packages/knowledge")}`;
    writeFileSync(join(copy, "packages/knowledge/src/index.ts"), `${readFileSync(join(copy, "packages/knowledge/src/index.ts"), "utf8")}// changed\n`);
    const check = fail(["tools/release/dist/cli.js", "check"]);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain(`@cozebus/knowledge changed since ${knowledge} (packages/knowledge/src/index.ts) but no changeset names it: run "npx changeset"`);

    const proto = join(copy, "schemas/coze/agent/v1/agent.proto");
    writeFileSync(proto, readFileSync(proto, "utf8").replace("coze.agent.{agent_id}.published", "coze.agent.{agent_id}.went_live"));
    const breaking = ["tools/codegen/dist/cli.js", "breaking", "--against-last-release", "--require-changeset"];
    const refused = fail(breaking);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/@cozebus\/agent: event coze\.agent\.v1\.AgentPublished: subject coze\.agent\.\{agent_id\}\.published -> coze\.agent\.\{agent_id\}\.went_live/);
    expect(refused.stderr).toContain("these packages change incompatibly but have no major changeset: @cozebus/agent");
    writeFileSync(join(copy, ".changeset/agent-rename.md"), '---\n"@cozebus/agent": major\n---\n\nAgentPublished moves to coze.agent.{agent_id}.went_live.\n');
    expect(fail(breaking).code).toBe(0);
  }, 180_000);
});
