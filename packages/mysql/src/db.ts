import type mysql from "mysql2/promise";

/** What every statement here needs: a pool or a connection (in a transaction or not). */
export type Db = Pick<mysql.Connection, "query">;

/** A SELECT's rows. Statements use `query` (client-side escaping), so arrays expand in `IN (?)` and LIMIT takes a `?`. */
export async function rows<R>(db: Db, sql: string, values: unknown[] = []): Promise<R[]> {
  const [r] = await db.query<mysql.RowDataPacket[]>(sql, values);
  return r as unknown as R[];
}

/** An INSERT/UPDATE/DELETE's affected rows. */
export async function exec(db: Db, sql: string, values: unknown[] = []): Promise<number> {
  const [r] = await db.query<mysql.ResultSetHeader>(sql, values);
  return r.affectedRows;
}

/** ER_DUP_ENTRY: the row is there already. */
export const isDuplicate = (err: unknown): boolean => (err as { errno?: number }).errno === 1062;

/** `ms` as the microseconds `INTERVAL ? MICROSECOND` takes (the database's clock decides every time here). */
export const micros = (ms: number): number => Math.max(0, Math.round(ms * 1000));

/** A pool can hand out connections; a connection (in your transaction) cannot. */
export const isPool = (db: unknown): boolean => typeof (db as { getConnection?: unknown }).getConnection === "function";

/**
 * Runs `fn` in a transaction on a connection of `pool`: BEGIN, `fn(tx)`,
 * COMMIT; ROLLBACK when `fn` throws (its error is rethrown). The connection
 * goes back to the pool either way (destroyed when the rollback itself failed).
 */
export async function withTransaction<T>(pool: mysql.Pool, fn: (tx: mysql.PoolConnection) => Promise<T>): Promise<T> {
  const tx = await pool.getConnection();
  let broken = false;
  try {
    await tx.beginTransaction();
    const result = await fn(tx);
    await tx.commit();
    return result;
  } catch (err) {
    try {
      await tx.rollback();
    } catch {
      broken = true;
    }
    throw err;
  } finally {
    if (broken) tx.destroy();
    else tx.release();
  }
}
