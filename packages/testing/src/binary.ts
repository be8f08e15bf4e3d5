import { delimiter, join } from "node:path";
import { buildCommand, buildNatsServer, cachedNatsServerPath, isExecutable } from "./build.js";
import { readNatsServerVersion } from "./version-probe.js";
import { DEBIAN_NATS_VERSION, DEFAULT_NATS_VERSION, parseNatsVersion, versionSatisfies, type AskedVersion } from "./versions.js";

/** Thrown when no runnable `nats-server` binary can be found. */
export class NatsServerNotFoundError extends Error {
  override readonly name = "NatsServerNotFoundError";
  constructor(
    readonly searched: readonly string[],
    hint = `Install it (Debian/Ubuntu: "apt-get install nats-server") or set NATS_SERVER_BIN to the path of the binary.`,
  ) {
    super(`nats-server was not found (looked at ${searched.join(", ")}). ${hint}`);
  }
}

/** Thrown when a binary and a version are both asked for and the binary is another version. */
export class NatsServerVersionMismatchError extends Error {
  override readonly name = "NatsServerVersionMismatchError";
}

const SBIN = ["/usr/sbin", "/usr/local/sbin", "/usr/local/bin"];

/**
 * Finds a nats-server binary: NATS_SERVER_BIN when set (and then only it,
 * so a typo there is reported rather than silently replaced), else PATH plus
 * the sbin folders Debian installs to, which are often not on a user's PATH.
 * (`startNatsServer` uses {@link resolveNatsServer}, which picks by version.)
 */
export function findNatsServerBinary(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env["NATS_SERVER_BIN"];
  if (explicit !== undefined && explicit !== "") {
    if (isExecutable(explicit)) return explicit;
    throw new NatsServerNotFoundError([`NATS_SERVER_BIN=${explicit}`]);
  }
  return findOnPath(env, [...(env["PATH"] ?? "").split(delimiter).filter(Boolean), ...SBIN]);
}

function findOnPath(env: NodeJS.ProcessEnv, dirs: readonly string[], hint?: string): string {
  const candidates = [...new Set(dirs)].map((d) => join(d, "nats-server"));
  const found = candidates.find(isExecutable);
  if (found === undefined) throw new NatsServerNotFoundError([...new Set(dirs)], hint);
  return found;
}

/** Which server to run: the same two knobs as options and as environment variables. */
export interface NatsServerSelection {
  /** Path of a nats-server binary. */
  readonly binary?: string;
  /** A release: `2.9` or `2.9.10` (Debian's), `2.10`/`2.11`/`2.12` (the pinned ones) or an exact `2.x.y`, x >= 10. */
  readonly version?: string;
}

/** What decided the choice, named the way a user would look for it. */
export type NatsServerChoice = "binary option" | "version option" | "NATS_SERVER_BIN" | "COZEBUS_NATS_VERSION" | "default";

/** Where the binary comes from: given as a path, Debian's package, or the go install cache. */
export type NatsServerOrigin = "given" | "debian" | "cache";

export interface NatsServerPlan {
  readonly choice: NatsServerChoice;
  readonly origin: NatsServerOrigin;
  /** The binary to run; for `cache`, where it is or will be once built. */
  readonly binary: string;
  /** The version that must run, when one was asked for (undefined: whatever `binary` is). */
  readonly asked: AskedVersion | undefined;
  /** `COZEBUS_NATS_VERSION` or `the version option`, for messages about `asked`. */
  readonly askedBy: string | undefined;
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === "" ? undefined : v);

/**
 * Decides which nats-server to run, without building anything. Precedence,
 * the way every cozebus setting works (options over environment over
 * defaults), and a path over a version at each level:
 *
 * 1. the `binary` option;  2. the `version` option;
 * 3. `NATS_SERVER_BIN`;    4. `COZEBUS_NATS_VERSION`;  5. 2.12.15.
 *
 * A level's binary and version given together must agree: the binary runs
 * and must report that version, or starting fails (never a silent
 * substitute). Options replace the environment as a whole: a test asking
 * for `{ version: "2.11" }` gets 2.11 whatever NATS_SERVER_BIN says.
 * Empty values count as unset.
 */
export function resolveNatsServer(selection: NatsServerSelection = {}, env: NodeJS.ProcessEnv = process.env): NatsServerPlan {
  const optBinary = nonEmpty(selection.binary);
  const optVersion = nonEmpty(selection.version);
  if (optBinary !== undefined || optVersion !== undefined) {
    return plan(optBinary, "binary option", optVersion, "version option", env);
  }
  const envBinary = nonEmpty(env["NATS_SERVER_BIN"]);
  const envVersion = nonEmpty(env["COZEBUS_NATS_VERSION"]);
  if (envBinary !== undefined || envVersion !== undefined) {
    return plan(envBinary, "NATS_SERVER_BIN", envVersion, "COZEBUS_NATS_VERSION", env);
  }
  return planVersion({ version: DEFAULT_NATS_VERSION, minorOnly: false }, "default", undefined, env);
}

function plan(
  binary: string | undefined,
  binaryChoice: "binary option" | "NATS_SERVER_BIN",
  version: string | undefined,
  versionChoice: "version option" | "COZEBUS_NATS_VERSION",
  env: NodeJS.ProcessEnv,
): NatsServerPlan {
  const askedBy = versionChoice === "version option" ? "the version option" : "COZEBUS_NATS_VERSION";
  const asked = version === undefined ? undefined : parseNatsVersion(version, askedBy === "the version option" ? "version" : askedBy);
  if (binary === undefined) return planVersion(asked!, versionChoice, askedBy, env);
  if (!isExecutable(binary)) {
    throw new NatsServerNotFoundError([`${binaryChoice === "binary option" ? "the binary option" : "NATS_SERVER_BIN"}=${binary}`]);
  }
  return { choice: binaryChoice, origin: "given", binary, asked, askedBy: asked === undefined ? undefined : askedBy };
}

function planVersion(asked: AskedVersion, choice: NatsServerChoice, askedBy: string | undefined, env: NodeJS.ProcessEnv): NatsServerPlan {
  if (asked.version === DEBIAN_NATS_VERSION) {
    // Debian's package first: a nats-server earlier on PATH is often another version (checked at start).
    const binary = findOnPath(env, ["/usr/sbin", ...(env["PATH"] ?? "").split(delimiter).filter(Boolean)], `nats-server ${DEBIAN_NATS_VERSION} is Debian's package: "apt-get install nats-server" (or set NATS_SERVER_BIN to a ${DEBIAN_NATS_VERSION} binary).`);
    return { choice, origin: "debian", binary, asked, askedBy: askedBy ?? "the default" };
  }
  return { choice, origin: "cache", binary: cachedNatsServerPath(asked.version, env), asked, askedBy: askedBy ?? "the default" };
}

export interface ResolvedNatsServer {
  /** The binary that runs. */
  readonly binary: string;
  /** What it reports with `--version`, e.g. `2.12.15`. */
  readonly version: string;
  readonly choice: NatsServerChoice;
  readonly origin: NatsServerOrigin;
}

export interface EnsureOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Build progress (default: stderr). */
  readonly log?: (line: string) => void;
}

/**
 * {@link resolveNatsServer}, then builds the release when it is not in the
 * cache yet, and checks that the binary reports the version asked for.
 */
export async function ensureNatsServer(selection: NatsServerSelection = {}, opts: EnsureOptions = {}): Promise<ResolvedNatsServer> {
  const env = opts.env ?? process.env;
  const p = resolveNatsServer(selection, env);
  if (p.origin === "cache") await buildNatsServer(p.asked!.version, { env, ...(opts.log ? { log: opts.log } : {}) });
  const version = readNatsServerVersion(p.binary);
  if (p.asked !== undefined && !versionSatisfies(p.asked, version)) {
    const wanted = p.asked.minorOnly ? `a ${p.asked.version.split(".").slice(0, 2).join(".")} release` : p.asked.version;
    const fix =
      p.origin === "cache"
        ? `the cached build is damaged: delete ${p.binary} and it is rebuilt (${buildCommand(p.asked.version, env)})`
        : p.origin === "debian"
          ? `install Debian's package (apt-get install nats-server) or set NATS_SERVER_BIN to a ${p.asked.version} binary`
          : `give a ${wanted} binary, or drop one of the two`;
    throw new NatsServerVersionMismatchError(`${p.askedBy} asks for ${wanted}, but ${p.binary} is ${version}: ${fix}`);
  }
  return { binary: p.binary, version, choice: p.choice, origin: p.origin };
}
