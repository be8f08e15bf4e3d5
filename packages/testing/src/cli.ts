#!/usr/bin/env node
/**
 * `cozebus-nats-server`: gets nats-server releases ready before tests run,
 * so no test waits for (or times out on) a first-use build.
 */
import { ensureNatsServer } from "./binary.js";
import { DEFAULT_NATS_VERSION, NATS_TEST_MATRIX } from "./versions.js";

const HELP = `usage: cozebus-nats-server install [VERSION...]   build (or check) each release; default ${DEFAULT_NATS_VERSION}
       cozebus-nats-server install --matrix       what a test run of this repository uses: the server NATS_SERVER_BIN or
                                                  COZEBUS_NATS_VERSION names, else every release of the matrix (${NATS_TEST_MATRIX.join(", ")})
       cozebus-nats-server path [VERSION]         print the binary startNatsServer would run (building it if needed)

VERSION: 2.9 or 2.9.10 (Debian's package), 2.10, 2.11, 2.12 (pinned releases), or an exact 2.x.y.
Without VERSION, "path" follows NATS_SERVER_BIN, COZEBUS_NATS_VERSION, then ${DEFAULT_NATS_VERSION}.
Builds go to $COZEBUS_CACHE_DIR/nats-server, else $XDG_CACHE_HOME/cozebus/nats-server, else ~/.cache/cozebus/nats-server.`;

const nonEmpty = (v: string | undefined): boolean => v !== undefined && v !== "";

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(`${HELP}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === "install") {
    const matrix = args.length === 1 && args[0] === "--matrix";
    // Like the test configuration (vitest.shared.ts): a server chosen by the environment replaces the whole matrix.
    const chosen = matrix && (nonEmpty(process.env["NATS_SERVER_BIN"]) || nonEmpty(process.env["COZEBUS_NATS_VERSION"]));
    const selections = chosen ? [{}] : (matrix ? NATS_TEST_MATRIX : args.length > 0 ? args : [DEFAULT_NATS_VERSION]).map((version) => ({ version }));
    for (const selection of selections) {
      const s = await ensureNatsServer(selection);
      process.stdout.write(`nats-server ${s.version}  ${s.binary}  (${s.origin === "debian" ? "Debian's package" : "built with go install"})\n`);
    }
    return 0;
  }
  if (command === "path" && args.length <= 1) {
    const s = await ensureNatsServer(args[0] !== undefined ? { version: args[0] } : {});
    process.stdout.write(`${s.binary}\n`);
    return 0;
  }
  process.stderr.write(`${HELP}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`cozebus-nats-server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
