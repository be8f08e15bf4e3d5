import { accessSync, constants, existsSync, readdirSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";

/** Where `initdb` and `postgres` live, and which major version they are. */
export interface PostgresBinaries {
  /** The folder holding `initdb` and `postgres` (e.g. `/usr/lib/postgresql/15/bin`). */
  readonly binDir: string;
  readonly initdb: string;
  readonly postgres: string;
  /** The major version, from the folder name or `PG_VERSION` of the share folder; undefined when unknown. */
  readonly major: number | undefined;
}

/** Neither the `binDir` option, COZEBUS_POSTGRES_BIN, Debian's folders nor PATH has a PostgreSQL server. */
export class PostgresNotFoundError extends Error {
  constructor(looked: readonly string[]) {
    super(
      `no PostgreSQL server binaries (initdb and postgres) found; looked in: ${looked.join(", ")}. ` +
        "Install Debian's server (`apt-get install postgresql`; .ci/run does it), or point COZEBUS_POSTGRES_BIN at a folder holding initdb and postgres.",
    );
    this.name = "PostgresNotFoundError";
  }
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function inDir(dir: string): PostgresBinaries | undefined {
  const initdb = join(dir, "initdb");
  const postgres = join(dir, "postgres");
  if (!executable(initdb) || !executable(postgres)) return undefined;
  const m = /postgresql\/(\d+)\/bin\/?$/.exec(dir);
  return { binDir: dir, initdb, postgres, major: m ? Number(m[1]) : undefined };
}

const DEBIAN_ROOT = "/usr/lib/postgresql";

/**
 * Finds a PostgreSQL server: the `binDir` option, then COZEBUS_POSTGRES_BIN,
 * then Debian's `/usr/lib/postgresql/<major>/bin` (the newest major), then
 * PATH. Debian puts only client programs on PATH (`psql`); the server's
 * `initdb` and `postgres` live in the versioned folder.
 */
export function findPostgresBinaries(binDir?: string, env: NodeJS.ProcessEnv = process.env): PostgresBinaries {
  const looked: string[] = [];
  const explicit = binDir ?? (env["COZEBUS_POSTGRES_BIN"] || undefined);
  if (explicit !== undefined) {
    const found = inDir(explicit);
    if (found) return withShareVersion(found);
    throw new PostgresNotFoundError([explicit + (binDir !== undefined ? " (binDir option)" : " (COZEBUS_POSTGRES_BIN)")]);
  }
  if (existsSync(DEBIAN_ROOT)) {
    const majors = readdirSync(DEBIAN_ROOT)
      .filter((d) => /^\d+$/.test(d))
      .map(Number)
      .sort((a, b) => b - a);
    for (const major of majors) {
      const dir = join(DEBIAN_ROOT, String(major), "bin");
      looked.push(dir);
      const found = inDir(dir);
      if (found) return found;
    }
  } else looked.push(`${DEBIAN_ROOT}/<major>/bin`);
  for (const dir of (env["PATH"] ?? "").split(delimiter).filter(Boolean)) {
    const found = inDir(dir);
    if (found) return withShareVersion(found);
  }
  looked.push("PATH");
  throw new PostgresNotFoundError(looked);
}

/** A server found outside Debian's versioned folders: read its major from the share folder, when it is there. */
function withShareVersion(b: PostgresBinaries): PostgresBinaries {
  if (b.major !== undefined) return b;
  for (const f of [join(b.binDir, "..", "share", "postgresql", "PG_VERSION"), join(b.binDir, "..", "share", "PG_VERSION")]) {
    try {
      const m = /^(\d+)/.exec(readFileSync(f, "utf8"));
      if (m) return { ...b, major: Number(m[1]) };
    } catch {
      // not there: try the next
    }
  }
  return b;
}
