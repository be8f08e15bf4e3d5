import { readFileSync } from "node:fs";
import { fromSeed } from "@nats-io/nkeys";
import { ConfigError } from "../errors.js";

const SEED = /^S[UAO][A-Z2-7]{56}$/;
const SEED_IN_TEXT = /\bS[UAO][A-Z2-7]{56}\b/;
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const JWT_IN_TEXT = /\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/;

function readText(variable: string, path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new ConfigError(variable, `cannot read ${what} file ${JSON.stringify(path)} (${code}); check the path and its permissions`);
  }
}

/**
 * Resolves NATS_NKEY_SEED-style values, with one unambiguous rule: a value
 * that has the exact shape of a user seed (58 base32 characters starting
 * with "SU") is the seed; anything else is a path to a file holding one.
 * The value itself is never echoed unless it looks like a path, since a
 * mistyped seed is still a secret.
 */
export function loadUserSeed(variable: string, value: string): Uint8Array {
  let seed: string;
  if (SEED.test(value)) {
    seed = value;
  } else {
    if (!value.includes("/") && !value.includes(".")) {
      throw new ConfigError(
        variable,
        "is neither an nkey user seed (58 characters starting with \"SU\") nor a file path; value not shown since it may be a mistyped seed",
      );
    }
    const text = readText(variable, value, "seed");
    const found = SEED_IN_TEXT.exec(text);
    if (!found) throw new ConfigError(variable, `file ${JSON.stringify(value)} holds no nkey seed (a line starting with "SU")`);
    seed = found[0];
  }
  if (!seed.startsWith("SU")) {
    throw new ConfigError(variable, `holds an ${seed.startsWith("SA") ? "account" : "operator"} seed; a client logs in with a user seed ("SU...")`);
  }
  const bytes = new TextEncoder().encode(seed);
  try {
    fromSeed(bytes);
  } catch {
    throw new ConfigError(variable, "is not a valid nkey seed (its checksum does not match); copy it again from the .nk or .creds file");
  }
  return bytes;
}

export function checkJwt(variable: string, value: string): string {
  if (!JWT.test(value)) throw new ConfigError(variable, "is not a JWT (three base64url parts separated by dots); value not shown");
  return value;
}

/** Reads a `.creds` file up front so a bad path fails at start-up, not at the first reconnect. */
export function loadCredsFile(variable: string, path: string): Uint8Array {
  const text = readText(variable, path, "creds");
  if (!JWT_IN_TEXT.test(text) || !SEED_IN_TEXT.test(text)) {
    throw new ConfigError(variable, `file ${JSON.stringify(path)} is not a .creds file (it needs a user JWT and a user seed)`);
  }
  return new TextEncoder().encode(text);
}

export function checkReadable(variable: string, path: string, what: string): string {
  readText(variable, path, what);
  return path;
}
