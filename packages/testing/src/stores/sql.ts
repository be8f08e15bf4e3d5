/** Portable reads the suites make through a harness's `query`. */
import type { SqlDialect } from "./harness.js";

/** `SELECT COUNT(*) AS n ...` as a number (pg returns a BIGINT as a string, mysql2 as a number). */
export async function countOf<Pool, Tx>(h: SqlDialect<Pool, Tx>, on: Pool | Tx, sql: string, values: readonly unknown[] = []): Promise<number> {
  const [row] = await h.query(on, sql, values);
  return Number(row?.["n"] ?? 0);
}

/** How many rows a SELECT returns. */
export async function rowsOf<Pool, Tx>(h: SqlDialect<Pool, Tx>, on: Pool | Tx, sql: string, values: readonly unknown[] = []): Promise<number> {
  return (await h.query(on, sql, values)).length;
}
