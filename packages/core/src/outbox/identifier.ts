import { ConfigError } from "../errors.js";

/**
 * `value` when it is a plain SQL identifier (lower-case letters, digits, "_",
 * at most `maxLength`: 63 on PostgreSQL, 64 on MySQL), which is safe to quote
 * into SQL without escaping; a ConfigError naming `option` otherwise.
 */
export function sqlIdentifier(option: string, value: string, maxLength: number): string {
  if (!new RegExp(`^[a-z_][a-z0-9_]{0,${maxLength - 1}}$`).test(value)) {
    throw new ConfigError(option, `${JSON.stringify(value)} is not a plain SQL identifier (lower-case letters, digits, "_", at most ${maxLength})`);
  }
  return value;
}
