import type pg from "pg";

/**
 * Runs `fn` in a transaction on a client of `pool`: BEGIN, `fn(tx)`, COMMIT;
 * ROLLBACK when `fn` throws (its error is rethrown). The client goes back to
 * the pool either way (destroyed when the rollback itself failed).
 */
export async function withTransaction<T>(pool: pg.Pool, fn: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
  const tx = await pool.connect();
  let broken: Error | undefined;
  try {
    await tx.query("BEGIN");
    const result = await fn(tx);
    await tx.query("COMMIT");
    return result;
  } catch (err) {
    try {
      await tx.query("ROLLBACK");
    } catch (rollbackErr) {
      broken = rollbackErr as Error;
    }
    throw err;
  } finally {
    tx.release(broken);
  }
}
