import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** Thrown when no runnable `nats-server` binary can be found. */
export class NatsServerNotFoundError extends Error {
  override readonly name = "NatsServerNotFoundError";
  constructor(readonly searched: readonly string[]) {
    super(
      `nats-server was not found (looked at ${searched.join(", ")}). ` +
        `Install it (Debian/Ubuntu: "apt-get install nats-server") ` +
        `or set NATS_SERVER_BIN to the path of the binary.`,
    );
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds the nats-server binary: NATS_SERVER_BIN when set (and then only it,
 * so a typo there is reported rather than silently replaced), else PATH plus
 * the sbin folders Debian installs to, which are often not on a user's PATH.
 */
export function findNatsServerBinary(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env["NATS_SERVER_BIN"];
  if (explicit !== undefined && explicit !== "") {
    if (isExecutable(explicit)) return explicit;
    throw new NatsServerNotFoundError([`NATS_SERVER_BIN=${explicit}`]);
  }
  const dirs = [...(env["PATH"] ?? "").split(delimiter).filter(Boolean), "/usr/sbin", "/usr/local/sbin", "/usr/local/bin"];
  const candidates = [...new Set(dirs)].map((d) => join(d, "nats-server"));
  const found = candidates.find(isExecutable);
  if (found === undefined) throw new NatsServerNotFoundError(["NATS_SERVER_BIN (unset)", "PATH", "/usr/sbin", "/usr/local/sbin", "/usr/local/bin"]);
  return found;
}
