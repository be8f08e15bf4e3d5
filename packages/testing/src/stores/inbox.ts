/**
 * The inbox (idempotent consumer) cases every SQL store passes, on a real
 * database server the harness starts: claims across replicas, lapsed
 * leases, retention, marking inside the handler's own transaction, and a
 * database that goes away while a handler runs. `guard` of
 * `@cozebus/core/inbox` drives the store, as the typed layer does.
 *
 *   import { describeInboxStoreConformance } from "@cozebus/testing/stores";
 *   describeInboxStoreConformance("postgres", harness);
 */
import { isCozebusError } from "@cozebus/core";
import { guard } from "@cozebus/core/inbox";
import type { Outcome } from "@cozebus/core/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sleep } from "../wait.js";
import type { InboxHarness, StoreDatabase, TransactionalInboxStore } from "./harness.js";
import { rowsOf } from "./sql.js";

const ack: Outcome = { type: "ack" };
const times = { leaseMs: 5_000, retentionMs: 60_000 };
let n = 0;
const id = (): string => `evt-${++n}-${Math.random().toString(36).slice(2, 8)}`;
const opts = (eventId: string, extra: Record<string, unknown> = {}) => ({ group: "billing", eventId, ...times, duplicateWindowMs: 100, ...extra });

export function describeInboxStoreConformance<Pool, Tx>(name: string, h: InboxHarness<Pool, Tx>): void {
  describe(`inbox store conformance: ${name}`, () => {
    let db: StoreDatabase;
    const pools: Pool[] = [];

    /** One replica: its own pool (its own connections), the same database. */
    const replica = (): { pool: Pool; store: TransactionalInboxStore<Tx> } => {
      const pool = h.pool(db.url, 5);
      pools.push(pool);
      return { pool, store: h.store(pool) };
    };

    beforeAll(async () => {
      db = await h.startDatabase();
      await Promise.all([h.migrate(replica().pool), h.migrate(replica().pool)]); // at once is fine
      await h.migrate(replica().pool); // and again
    });
    afterAll(async () => {
      await Promise.all(pools.map((p) => h.end(p).catch(() => undefined)));
      await db?.stop();
    });

    it("claim -> complete -> the same id is done (skipped) for that group, new for another; ids differing in case are two ids", async () => {
      const { store } = replica();
      const eventId = id();
      let runs = 0;
      const run = (): Promise<Outcome> => (runs++, Promise.resolve(ack));
      expect(await guard(store, opts(eventId), run)).toEqual(ack);
      expect(await guard(store, opts(eventId), run)).toEqual(ack);
      expect(runs).toBe(1);
      expect(await store.isDone({ group: "billing", eventId })).toBe(true);
      expect((await store.claim({ group: "search", eventId }, times)).state).toBe("claimed");
      // Ids compare byte for byte (MySQL's default collation would not: its tables are utf8mb4_bin).
      expect((await store.claim({ group: "billing", eventId: eventId.toUpperCase() }, times)).state).toBe("claimed");
    });

    it("two replicas claiming the same ids at once: for each id exactly one claims, the other is busy (until the holder's lease ends)", async () => {
      const a = replica();
      const b = replica();
      const ids = Array.from({ length: 40 }, id);
      const results = await Promise.all(ids.map((eventId) => Promise.all([a.store.claim({ group: "g", eventId }, times), b.store.claim({ group: "g", eventId }, times)])));
      for (const [ra, rb] of results) {
        expect([ra.state, rb.state].sort()).toEqual(["busy", "claimed"]);
        const busy = ra.state === "busy" ? ra : rb;
        expect(busy.state === "busy" && busy.retryInMs > 4_000 && busy.retryInMs <= 5_000).toBe(true);
      }
    });

    it("two replicas handling the same event at once through guard: one runs it, the other gets a retry and does not", async () => {
      const a = replica();
      const b = replica();
      const eventId = id();
      let runs = 0;
      const slow = async (): Promise<Outcome> => {
        runs++;
        await sleep(300);
        return ack;
      };
      const [oa, ob] = await Promise.all([guard(a.store, opts(eventId), slow), guard(b.store, opts(eventId), slow)]);
      expect(runs).toBe(1);
      const other = oa.type === "ack" ? ob : oa;
      expect(other.type).toBe("retry");
      expect(isCozebusError((other as { error: unknown }).error, "INBOX_BUSY")).toBe(true);
      // Its redelivery finds the id done.
      expect(await guard(b.store, opts(eventId), slow)).toEqual(ack);
      expect(runs).toBe(1);
    });

    it("a claim whose replica crashed (claimed, never completed) lapses after its lease: another replica runs the event", async () => {
      const crashed = replica();
      const other = replica();
      const eventId = id();
      const leased = { leaseMs: 1500, retentionMs: 60_000 };
      expect((await crashed.store.claim({ group: "g", eventId }, leased)).state).toBe("claimed");
      await h.end(crashed.pool); // the replica is gone, its claim stays
      expect((await other.store.claim({ group: "g", eventId }, leased)).state).toBe("busy");
      await sleep(1600);
      expect((await other.store.claim({ group: "g", eventId }, leased)).state).toBe("claimed");
    });

    it("an id is remembered for the retention, then counts as new; purgeExpired() removes it", async () => {
      const { store, pool } = replica();
      const eventId = id();
      const short = { leaseMs: 200, retentionMs: 600 };
      const c = await store.claim({ group: "ret", eventId }, short);
      if (c.state !== "claimed") throw new Error("expected a claim");
      await store.complete(c.claim);
      await store.complete(c.claim); // idempotent
      expect((await store.claim({ group: "ret", eventId }, short)).state).toBe("done");
      await sleep(650);
      expect(await store.purgeExpired()).toBeGreaterThanOrEqual(1);
      expect(await rowsOf(h, pool, "SELECT 1 FROM cozebus_inbox WHERE consumer_group = 'ret' AND event_id = ?", [eventId])).toBe(0);
      expect((await store.claim({ group: "ret", eventId }, short)).state).toBe("claimed");
    });

    it("complete inside the handler's transaction rolls back with it; the redelivery runs again and commits both", async () => {
      const { store, pool } = replica();
      await h.query(pool, "CREATE TABLE IF NOT EXISTS invoices (event_id VARCHAR(255) PRIMARY KEY, amount INT)");
      const eventId = id();
      let attempt = 0;
      const handler = (): Promise<Outcome> =>
        guard(store, opts(eventId), (claim) =>
          store.transaction(claim, async (tx) => {
            attempt++;
            await h.query(tx, "INSERT INTO invoices VALUES (?, 10)", [eventId]);
            if (attempt === 1) throw new Error("the handler fails after its write");
            return ack;
          }),
        );
      await expect(handler()).rejects.toThrow("the handler fails after its write");
      expect(await rowsOf(h, pool, "SELECT 1 FROM invoices WHERE event_id = ?", [eventId])).toBe(0);
      expect(await store.isDone({ group: "billing", eventId })).toBe(false);
      expect(await handler()).toEqual(ack);
      expect(await rowsOf(h, pool, "SELECT 1 FROM invoices WHERE event_id = ?", [eventId])).toBe(1);
      expect(await store.isDone({ group: "billing", eventId })).toBe(true);
      expect(await handler()).toEqual(ack);
      expect(attempt).toBe(2);
    });

    it("marked in its own transaction: two replicas running the same event (lease lapsed) commit its writes once; the loser rolls back and is acked", async () => {
      const a = replica();
      const b = replica();
      await h.query(a.pool, "CREATE TABLE IF NOT EXISTS payments (event_id VARCHAR(255), replica VARCHAR(8))");
      const eventId = id();
      const short = opts(eventId, { leaseMs: 150, renewEveryMs: false });
      const ran: string[] = [];
      const handle = (r: { store: TransactionalInboxStore<Tx> }, who: string, before: number, inside: number) =>
        guard(r.store, short, async (claim) => {
          ran.push(who);
          await sleep(before);
          return r.store.transaction(claim, async (tx) => {
            await h.query(tx, "INSERT INTO payments VALUES (?, ?)", [eventId, who]);
            await sleep(inside);
            return ack;
          });
        });
      // a stalls past its lease before it writes; b takes the event over and marks it first (holding the row);
      // a's mark then waits for b's commit, finds the event done: AlreadyHandledError, rolled back, acked.
      const first = handle(a, "a", 900, 0);
      await sleep(300);
      const second = handle(b, "b", 0, 900);
      expect(await first).toEqual(ack);
      expect(await second).toEqual(ack);
      expect(ran.sort()).toEqual(["a", "b"]);
      const rows = await h.query(a.pool, "SELECT replica FROM payments WHERE event_id = ?", [eventId]);
      expect(rows.map((r) => r["replica"])).toEqual(["b"]);
    });

    it("completeIn with no claim row, from two transactions at once: one marks, the other gets AlreadyHandledError (or, under MySQL's REPEATABLE READ, a deadlock the database rolls back) — never two marks", async () => {
      const a = replica();
      const b = replica();
      await h.query(a.pool, "CREATE TABLE IF NOT EXISTS effects (event_id VARCHAR(255), who VARCHAR(8))");
      const tally = new Map<string, number>();
      for (let i = 0; i < 10; i++) {
        const key = { group: "direct", eventId: id(), retentionMs: 60_000 };
        const outcomes = await Promise.all(
          [a, b].map((r, j) =>
            r.store
              .transaction(key, async (tx) => {
                await h.query(tx, "INSERT INTO effects VALUES (?, ?)", [key.eventId, j === 0 ? "a" : "b"]);
                await sleep(50);
              })
              .then(
                () => "marked",
                (e: unknown) => (isCozebusError(e, "ALREADY_HANDLED") ? "already" : h.isDeadlock(e) ? "deadlock" : `error ${(e as Error).message}`),
              ),
          ),
        );
        for (const o of outcomes) tally.set(o, (tally.get(o) ?? 0) + 1);
        expect(outcomes.filter((o) => o === "marked")).toHaveLength(1);
        expect(outcomes.filter((o) => o !== "marked" && o !== "already" && o !== "deadlock")).toEqual([]);
        expect(await rowsOf(h, a.pool, "SELECT 1 FROM effects WHERE event_id = ?", [key.eventId])).toBe(1);
      }
      console.log(`${name}: completeIn without a claim row, 10 rounds of two transactions: ${JSON.stringify(Object.fromEntries(tally))}`);
    });

    it("a mark that fails after the handler succeeded: retry, never ack; once the store is back, the redelivery to this process is marked and acked, not run again (guard remembers the unmarked id)", async () => {
      const { store } = replica();
      const eventId = id();
      let runs = 0;
      const o = opts(eventId, { leaseMs: 300, renewEveryMs: false, unavailableDelayMs: 50 });
      const out = await guard(store, o, async () => {
        runs++;
        await db.shutDown(); // the database goes away while the handler runs (its sessions end first)
        return ack;
      });
      expect(out.type).toBe("retry");
      expect(isCozebusError((out as { error: unknown }).error, "INBOX_UNAVAILABLE")).toBe(true);
      // Down on claim: no run at all.
      expect((await guard(store, o, () => (runs++, Promise.resolve(ack)))).type).toBe("retry");
      expect(runs).toBe(1);
      await db.start();
      await sleep(350);
      let back: Outcome | undefined;
      for (let i = 0; i < 50 && back?.type !== "ack"; i++) back = await guard(store, o, () => (runs++, Promise.resolve(ack)));
      expect(back).toEqual(ack);
      expect(runs).toBe(1); // this process ran it and could not mark it: it marks now, it never runs it again
      expect(await store.isDone({ group: "billing", eventId })).toBe(true);
    });
  });
}
