import { defineConfig, type TestProjectInlineConfiguration } from "vitest/config";

/** One test setup for every package: real servers and restarts need generous limits, never timing assertions. */
const ALL = ["test/**/*.test.ts"];
const base = {
  testTimeout: 60_000,
  hookTimeout: 60_000,
  pool: "forks" as const,
};

export default defineConfig({ test: { ...base, include: ALL } });

/**
 * For a package tested against real nats-server: every test file on 2.12.15,
 * and the `compat` files again on each older release of the matrix (2.9.10,
 * 2.10.24, 2.11.17). NATS_SERVER_BIN or COZEBUS_NATS_VERSION run everything
 * on that one server instead. Each project is named after the version
 * it runs, so every result line shows it, and pins NATS_SERVER_BIN and
 * COZEBUS_NATS_VERSION for its workers (and the processes they spawn).
 * The binaries are made ready here, in the main process, before any worker
 * starts: a first-use build never runs inside a test's timeout, and never
 * twice at once. `--project "nats-server 2.9.10"` picks one version.
 */
export function natsMatrix(compat: readonly string[]) {
  // vitest evaluates this file again for every project that extends it: plan (and print) once per process.
  const memo = globalThis as { cozebusNatsMatrix?: Promise<TestProjectInlineConfiguration[]> };
  return defineConfig(async () => {
    memo.cozebusNatsMatrix ??= planMatrix(compat);
    // No `include` at this level: projects extending it would get it merged into (added to) their own.
    return { test: { ...base, projects: await memo.cozebusNatsMatrix } };
  });
}

async function planMatrix(compat: readonly string[]): Promise<TestProjectInlineConfiguration[]> {
  // Imported here, not at the top: packages that do not use the matrix must not need @cozebus/testing built.
  const { ensureNatsServer, DEFAULT_NATS_VERSION, NATS_TEST_MATRIX } = await import("@cozebus/testing");
  const project = (version: string, binary: string, include: readonly string[]): TestProjectInlineConfiguration => ({
    extends: true,
    test: {
      name: `nats-server ${version}`,
      include: [...include],
      env: { NATS_SERVER_BIN: binary, COZEBUS_NATS_VERSION: version },
    },
  });
  const main = await ensureNatsServer();
  say(`nats-server ${main.version} (${main.binary}; chosen by ${main.choice}): every test file`);
  const projects = [project(main.version, main.binary, ALL)];
  // NATS_SERVER_BIN or COZEBUS_NATS_VERSION set: the whole run on that one server, as they promise.
  const older = main.choice === "default" && compat.length > 0 ? NATS_TEST_MATRIX.filter((v) => v !== DEFAULT_NATS_VERSION) : [];
  for (const v of older) {
    const s = await ensureNatsServer({ version: v });
    say(`nats-server ${s.version} (${s.binary}): ${compat.join(", ")}`);
    projects.push(project(s.version, s.binary, compat));
  }
  return projects;
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}
