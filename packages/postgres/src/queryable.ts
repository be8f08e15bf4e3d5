/**
 * What the inbox and outbox statements need of a connection: a
 * parameterized query ($1, $2, ...) and its rows and row count. A
 * `pg.Pool`, a `pg.Client` in a transaction, and the Kysely adapter
 * (`@cozebus/postgres/kysely`) all provide it, so each statement is
 * written once.
 */
export interface Queryable {
  query<R extends object>(text: string, values?: unknown[]): Promise<{ readonly rows: R[]; readonly rowCount: number | null }>;
}
