import { spawn, execFile, execFileSync, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { waitFor } from "@cozebus/testing";

const require = createRequire(import.meta.url);
const execFileAsync = promisify(execFile);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface LocalRegistry {
  readonly url: string;
  /** An npm user config that points at this registry with a token it accepts: pass as `npm_config_userconfig`. */
  readonly npmrc: string;
  stop(): Promise<void>;
}

/**
 * A real npm registry (verdaccio) on a loopback port with its storage in
 * `dir`. No uplinks: nothing is ever fetched from the internet, so whatever
 * a test installs from it must have been published to it first.
 */
export async function startLocalRegistry(dir: string): Promise<LocalRegistry> {
  // A free port can be taken by another process before verdaccio binds it (other tests start servers
  // at the same time): then try another one, a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(dir, await freePort());
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE/.test(String(err))) throw err;
    }
  }
}

async function startOn(dir: string, port: number): Promise<LocalRegistry> {
  const url = `http://127.0.0.1:${port}/`;
  mkdirSync(join(dir, "storage"), { recursive: true });
  const config = join(dir, "verdaccio.yaml");
  writeFileSync(
    config,
    [
      `storage: ${JSON.stringify(join(dir, "storage"))}`,
      `auth: { htpasswd: { file: ${JSON.stringify(join(dir, "htpasswd"))}, max_users: -1 } }`,
      "uplinks: {}",
      "packages: { '**': { access: $all, publish: $all, unpublish: $all } }",
      "web: { enable: false }",
      "log: { type: stdout, format: pretty, level: warn }",
      "",
    ].join("\n"),
  );
  const npmrc = join(dir, "npmrc");
  writeFileSync(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=local-test-token\n`);
  const bin = join(require.resolve("verdaccio/package.json"), "..", "bin", "verdaccio");
  let log = "";
  const proc: ChildProcess = spawn(process.execPath, [bin, "--config", config, "--listen", `127.0.0.1:${port}`], { stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout?.on("data", (c: Buffer) => (log += c.toString()));
  proc.stderr?.on("data", (c: Buffer) => (log += c.toString()));
  try {
    await waitFor(`verdaccio on ${url} (log: ${log})`, async () => {
      if (proc.exitCode !== null) throw new Error(`verdaccio exited (${proc.exitCode}): ${log}`);
      return fetch(`${url}-/ping`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    }, 30_000);
  } catch (err) {
    proc.kill("SIGKILL");
    throw err;
  }
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null) return;
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    proc.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (proc.exitCode === null) proc.kill("SIGKILL");
  };
  return { url, npmrc, stop };
}

/**
 * Publishes already-installed third-party packages (from this repository's
 * node_modules) to the local registry, so a fresh project can install
 * cozebus's dependencies from it without touching the internet. One `npm pack`
 * for all of them and a few publishes at a time: one npm process per package
 * and step took over 8 minutes on a loaded 2-core machine (CI timed out).
 */
export async function seedRegistry(packageDirs: readonly string[], env: NodeJS.ProcessEnv, tmp: string, concurrency = 4): Promise<string[]> {
  const packed = execFileSync("npm", ["pack", ...packageDirs, "--pack-destination", tmp, "--ignore-scripts", "--json"], { env, encoding: "utf8", cwd: tmp, maxBuffer: 64 * 1024 * 1024 });
  const tarballs = [...new Set((JSON.parse(packed) as Array<{ filename: string }>).map((p) => p.filename))];
  const seeded: string[] = [];
  const queue = [...tarballs];
  const publishNext = async (): Promise<void> => {
    for (let tarball = queue.shift(); tarball !== undefined; tarball = queue.shift()) {
      try {
        await execFileAsync("npm", ["publish", join(tmp, tarball), "--ignore-scripts", "--tag", "latest"], { env, cwd: tmp });
        seeded.push(tarball);
      } catch (err) {
        // The same name@version installed twice in the tree: already there.
        if (!/EPUBLISHCONFLICT|cannot publish over|409/.test(String((err as { stderr?: string }).stderr ?? ""))) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tarballs.length) }, publishNext));
  return seeded;
}
