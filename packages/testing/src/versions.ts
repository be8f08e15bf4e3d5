/**
 * The nats-server versions cozebus is tested against, and how a version
 * string someone typed becomes one of them.
 */

/** Debian 12's `nats-server` package: the one version not built from source. */
export const DEBIAN_NATS_VERSION = "2.9.10";

/**
 * Releases built with `go install` on first use, one per minor line: the
 * seed's 2.10 and the newest 2.11 and 2.12. `"2.10"`, `"2.11"` and `"2.12"`
 * mean these.
 */
export const PINNED_NATS_VERSIONS = ["2.10.24", "2.11.17", "2.12.15"] as const;

/** What `startNatsServer()` runs when nothing says otherwise. */
export const DEFAULT_NATS_VERSION = "2.12.15";

/** Every version the repository's own test matrix runs, oldest first. */
export const NATS_TEST_MATRIX: readonly string[] = [DEBIAN_NATS_VERSION, ...PINNED_NATS_VERSIONS];

/** Thrown for a version string that names no nats-server cozebus can run. */
export class NatsServerVersionError extends Error {
  override readonly name = "NatsServerVersionError";
  constructor(
    readonly input: string,
    /** Where the string came from, e.g. `COZEBUS_NATS_VERSION` or `the version option`. */
    readonly source: string,
    reason: string,
  ) {
    super(
      `${source}=${JSON.stringify(input)} ${reason}. Use 2.9 (Debian's ${DEBIAN_NATS_VERSION}), ` +
        `2.10, 2.11 or 2.12 (pinned to ${PINNED_NATS_VERSIONS.join(", ")}), or an exact release ` +
        `2.10.0 or newer (built with go install on first use).`,
    );
  }
}

/** A version someone asked for, made exact. */
export interface AskedVersion {
  /** The exact release to run, e.g. `2.12.15`. */
  readonly version: string;
  /**
   * True when only a minor line was named (`"2.11"`): a binary given at the
   * same time may then be any 2.11 release, not just the pinned one.
   */
  readonly minorOnly: boolean;
}

const FORM = /^v?(\d+)\.(\d+)(?:\.(\d+))?$/;

/**
 * `"2.12"` -> 2.12.15, `"v2.9.10"` -> 2.9.10, `"2.10.7"` -> 2.10.7. Anything
 * else (a typo, `latest`, a 2.13 that does not exist, a 2.9 other than
 * Debian's) is a NatsServerVersionError naming `source`, never a silent
 * fallback to another version.
 */
export function parseNatsVersion(input: string, source = "version"): AskedVersion {
  const m = FORM.exec(input.trim());
  if (m === null) throw new NatsServerVersionError(input, source, "is not a nats-server version (expected MAJOR.MINOR or MAJOR.MINOR.PATCH)");
  const [major, minor] = [Number(m[1]), Number(m[2])];
  const patch = m[3] === undefined ? undefined : Number(m[3]);
  const line = `${major}.${minor}`;
  if (major !== 2) throw new NatsServerVersionError(input, source, "is not a 2.x release");
  if (minor < 9) throw new NatsServerVersionError(input, source, "is older than any nats-server cozebus supports");
  if (minor === 9) {
    // Building 2.9 from source is not tested anywhere; Debian's package is the 2.9 that users run.
    if (patch !== undefined && `${line}.${patch}` !== DEBIAN_NATS_VERSION) {
      throw new NatsServerVersionError(input, source, `is not Debian's ${DEBIAN_NATS_VERSION}, the only 2.9 release supported`);
    }
    return { version: DEBIAN_NATS_VERSION, minorOnly: patch === undefined };
  }
  if (patch !== undefined) return { version: `${line}.${patch}`, minorOnly: false };
  const pinned = PINNED_NATS_VERSIONS.find((v) => v.startsWith(`${line}.`));
  if (pinned === undefined) throw new NatsServerVersionError(input, source, `names no pinned release line (there is no ${line} here)`);
  return { version: pinned, minorOnly: true };
}

/** True when a server reporting `actual` is what `asked` wants. */
export function versionSatisfies(asked: AskedVersion, actual: string): boolean {
  if (!asked.minorOnly) return actual === asked.version;
  const line = (v: string): string => v.split(".").slice(0, 2).join(".");
  return line(actual) === line(asked.version);
}
