import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import {
  DEFAULT_NATS_VERSION,
  NATS_TEST_MATRIX,
  NatsServerBuildError,
  NatsServerNotFoundError,
  NatsServerVersionError,
  NatsServerVersionMismatchError,
  ensureNatsServer,
  parseNatsVersion,
  resolveNatsServer,
  startNatsCluster,
  startNatsServer,
} from "../src/index.js";

// Debian's package; the matrix needs it, and .ci/run installs it.
const DEBIAN = "/usr/sbin/nats-server";
const temps: string[] = [];
afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempCache(): string {
  const d = mkdtempSync(join(tmpdir(), "cozebus-cache-test-"));
  temps.push(d);
  return d;
}

describe("version strings", () => {
  it.each([
    ["2.9", "2.9.10", true],
    ["2.9.10", "2.9.10", false],
    ["v2.9.10", "2.9.10", false],
    ["2.10", "2.10.24", true],
    ["2.11", "2.11.17", true],
    ["2.12", "2.12.15", true],
    [" 2.12.15 ", "2.12.15", false],
    ["2.11.3", "2.11.3", false],
  ])("%j means %s", (input, version, minorOnly) => {
    expect(parseNatsVersion(input)).toEqual({ version, minorOnly });
  });

  it.each(["", "latest", "2", "2.13", "3.0.0", "2.8.4", "2.9.9", "2.12.x", "2.12.15-rc1", "2.12.15.1", "12.15"])("%j is a clear error naming where it came from", (input) => {
    let caught: unknown;
    try {
      resolveNatsServer({}, { HOME: "/h", COZEBUS_NATS_VERSION: input === "" ? " " : input });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(NatsServerVersionError);
    expect((caught as Error).message).toMatch(/^COZEBUS_NATS_VERSION=".*" .*Use 2\.9 \(Debian's 2\.9\.10\), 2\.10, 2\.11 or 2\.12/);
    expect(() => resolveNatsServer({ version: input === "" ? " " : input }, { HOME: "/h" })).toThrow(/^version=".*" /);
  });
});

describe("which server runs", () => {
  const cached = (root: string, v: string): string => join(root, "nats-server", `v${v}`, "nats-server");

  it("by default 2.12.15, built into ~/.cache/cozebus, or $XDG_CACHE_HOME/cozebus, or $COZEBUS_CACHE_DIR", () => {
    expect(DEFAULT_NATS_VERSION).toBe("2.12.15");
    expect(resolveNatsServer({}, { HOME: "/h" })).toMatchObject({ choice: "default", origin: "cache", binary: cached("/h/.cache/cozebus", "2.12.15") });
    expect(resolveNatsServer({}, { HOME: "/h", XDG_CACHE_HOME: "/x" }).binary).toBe(cached("/x/cozebus", "2.12.15"));
    expect(resolveNatsServer({}, { HOME: "/h", XDG_CACHE_HOME: "relative" }).binary).toBe(cached("/h/.cache/cozebus", "2.12.15"));
    expect(resolveNatsServer({}, { HOME: "/h", XDG_CACHE_HOME: "/x", COZEBUS_CACHE_DIR: "/c" }).binary).toBe(cached("/c", "2.12.15"));
    expect(() => resolveNatsServer({}, { COZEBUS_CACHE_DIR: "cache" })).toThrow(/COZEBUS_CACHE_DIR must be an absolute path/);
    // Empty means unset, as for every cozebus variable.
    expect(resolveNatsServer({ binary: "", version: "" }, { HOME: "/h", NATS_SERVER_BIN: "", COZEBUS_NATS_VERSION: "" }).choice).toBe("default");
  });

  it("2.9 is Debian's binary; the newer lines are the pinned builds", () => {
    expect(resolveNatsServer({}, { HOME: "/h", COZEBUS_NATS_VERSION: "2.9" })).toMatchObject({ choice: "COZEBUS_NATS_VERSION", origin: "debian", binary: DEBIAN });
    expect(resolveNatsServer({ version: "2.10" }, { HOME: "/h" })).toMatchObject({ origin: "cache", binary: cached("/h/.cache/cozebus", "2.10.24") });
    expect(NATS_TEST_MATRIX).toEqual(["2.9.10", "2.10.24", "2.11.17", "2.12.15"]);
  });

  it("options beat the environment; at each level a binary beats a version", () => {
    const env = { HOME: "/h", NATS_SERVER_BIN: DEBIAN, COZEBUS_NATS_VERSION: "2.10" };
    expect(resolveNatsServer({ binary: DEBIAN }, { HOME: "/h", COZEBUS_NATS_VERSION: "2.12" })).toMatchObject({ choice: "binary option", binary: DEBIAN, asked: undefined });
    expect(resolveNatsServer({ version: "2.11" }, env)).toMatchObject({ choice: "version option", binary: cached("/h/.cache/cozebus", "2.11.17") });
    expect(resolveNatsServer({}, env)).toMatchObject({ choice: "NATS_SERVER_BIN", binary: DEBIAN, asked: { version: "2.10.24", minorOnly: true } });
    expect(resolveNatsServer({}, { HOME: "/h", COZEBUS_NATS_VERSION: "2.11.17" })).toMatchObject({ choice: "COZEBUS_NATS_VERSION", asked: { version: "2.11.17" } });
  });

  it("a binary that is not there is named in the error", () => {
    expect(() => resolveNatsServer({}, { NATS_SERVER_BIN: "/nonexistent/nats-server" })).toThrow(NatsServerNotFoundError);
    expect(() => resolveNatsServer({ binary: "/nonexistent/nats-server" }, {})).toThrow(/the binary option=\/nonexistent\/nats-server/);
  });

  it("a binary and a version at the same level must agree", async () => {
    await expect(ensureNatsServer({ binary: DEBIAN, version: "2.9" }, { env: {} })).resolves.toMatchObject({ version: "2.9.10", origin: "given" });
    await expect(ensureNatsServer({ binary: DEBIAN, version: "2.12" }, { env: {} })).rejects.toThrow(NatsServerVersionMismatchError);
    await expect(ensureNatsServer({}, { env: { NATS_SERVER_BIN: DEBIAN, COZEBUS_NATS_VERSION: "2.11.17" } })).rejects.toThrow(
      /^COZEBUS_NATS_VERSION asks for 2\.11\.17, but \/usr\/sbin\/nats-server is 2\.9\.10/,
    );
  });
});

describe("building a release", () => {
  it("without Go the error says what to install and the command that builds it", async () => {
    const cache = tempCache();
    const err = await ensureNatsServer({ version: "2.11" }, { env: { COZEBUS_CACHE_DIR: cache, PATH: "/nonexistent" }, log: () => undefined }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NatsServerBuildError);
    expect((err as Error).message).toContain("no Go toolchain was found on PATH. Install Go 1.25 or newer");
    expect((err as Error).message).toContain(`GOBIN=${cache}/nats-server/v2.11.17 go install github.com/nats-io/nats-server/v2@v2.11.17`);
    expect((err as Error).message).toContain("COZEBUS_NATS_VERSION=2.9");
    expect(readdirSync(cache)).toEqual([]); // nothing created
  });

  it("a failed go install is an error with go's own message, and leaves no lock or half-built file", async () => {
    const cache = tempCache();
    const lines: string[] = [];
    // GOPROXY=off: go refuses to look the module up, a real failure that needs no network.
    const err = await ensureNatsServer({ version: "2.12" }, { env: { ...process.env, COZEBUS_CACHE_DIR: cache, GOPROXY: "off" }, log: (l) => lines.push(l) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NatsServerBuildError);
    expect((err as Error).message).toMatch(/building nats-server v2\.12\.15 failed \(go install exited with 1\):\n.*GOPROXY=off/);
    expect((err as Error).message).toContain(`or build it yourself: GOBIN=${cache}/nats-server/v2.12.15 go install`);
    expect(lines[0]).toMatch(/^@cozebus\/testing: building nats-server v2\.12\.15/);
    expect(readdirSync(join(cache, "nats-server"))).toEqual([]);
  });

  it("a lock left by a builder that died is broken, and the build goes ahead", { timeout: 240_000 }, async () => {
    const cache = tempCache();
    const lock = join(cache, "nats-server", "v2.10.24.lock");
    mkdirSync(lock, { recursive: true });
    const old = new Date(Date.now() - 120_000);
    utimesSync(lock, old, old);
    const lines: string[] = [];
    const s = await ensureNatsServer({ version: "2.10.24" }, { env: { ...process.env, COZEBUS_CACHE_DIR: cache }, log: (l) => lines.push(l) });
    expect(s).toMatchObject({ version: "2.10.24", binary: join(cache, "nats-server", "v2.10.24", "nats-server") });
    expect(lines.some((l) => l.includes("removing the stale build lock"))).toBe(true);
    expect(existsSync(lock)).toBe(false);
  });

  it("two processes asking for the same missing release at once: one go install, both get the binary", { timeout: 240_000 }, async () => {
    const cache = tempCache();
    const script = fileURLToPath(new URL("./fixtures/ensure.mjs", import.meta.url));
    const child = (): Promise<{ code: number | null; out: string; err: string }> =>
      new Promise((resolve) => {
        const p = spawn(process.execPath, [script, "2.11.17"], { env: { ...process.env, COZEBUS_CACHE_DIR: cache }, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        p.stdout.on("data", (c: Buffer) => (out += c.toString()));
        p.stderr.on("data", (c: Buffer) => (err += c.toString()));
        p.once("close", (code) => resolve({ code, out, err }));
      });
    const [a, b] = await Promise.all([child(), child()]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const binary = join(cache, "nats-server", "v2.11.17", "nats-server");
    expect(JSON.parse(a.out)).toEqual({ binary, version: "2.11.17" });
    expect(JSON.parse(b.out)).toEqual({ binary, version: "2.11.17" });
    // The first line of a build (a slow one adds "still building ..." lines every 15 s).
    expect(`${a.err}${b.err}`.match(/^@cozebus\/testing: building nats-server v2\.11\.17 /gm)).toHaveLength(1);
    expect(readdirSync(join(cache, "nats-server"))).toEqual(["v2.11.17"]);
  });
});

describe("one real start per version", () => {
  it.each(NATS_TEST_MATRIX)("nats-server %s", async (version) => {
    const s = await startNatsServer({ version });
    try {
      const varz = (await (await fetch(`${s.monitorUrl}/varz`)).json()) as { version: string };
      expect(s.version).toBe(version);
      expect(varz.version).toBe(version);
    } finally {
      await s.stop();
    }
  });

  it("a cluster runs the version asked for on every node", async () => {
    const cluster = await startNatsCluster({ version: "2.11" });
    try {
      expect(cluster.version).toBe("2.11.17");
      for (const node of cluster.servers) {
        const varz = (await (await fetch(`${node.monitorUrl}/varz`)).json()) as { version: string };
        expect([node.version, varz.version]).toEqual(["2.11.17", "2.11.17"]);
      }
    } finally {
      await cluster.stop();
    }
  });
});
