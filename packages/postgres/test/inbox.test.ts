import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { startPostgres, type PostgresServer } from "@cozebus/testing";
import { isCozebusError } from "@cozebus/core";
import type { Outcome } from "@cozebus/core/transport";
import { guard } from "@cozebus/core/inbox";
import { PostgresInboxStore, migrate } from "../src/index.js";

let db: PostgresServer;
const pools: pg.Pool[] = [];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One replica: its own pool (its own connections), the same database. */
function replica(): { pool: pg.Pool; store: PostgresInboxStore } {
  const pool = new pg.Pool({ connectionString: db.url, max: 5 });
  pool.on("error", () => undefined); // idle clients of a killed server
  pools.push(pool);
  return { pool, store: new PostgresInboxStore(pool) };
}

beforeAll(async () => {
  db = await startPostgres();
  await migrate(replica().pool);
  await migrate(replica().pool); // twice is fine
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
  await db?.stop();
});

const ack: Outcome = { type: "ack" };
let n = 0;
const id = (): string => `evt-${++n}-${Math.random().toString(36).slice(2, 8)}`;
const times = { leaseMs: 5_000, retentionMs: 60_000 };
const opts = (eventId: string, extra: Record<string, unknown> = {}) => ({ group: "billing", eventId, ...times, duplicateWindowMs: 100, ...extra });

describe("PostgresInboxStore", () => {
  it("claim -> complete -> the same id is done (skipped) for that group, new for another", async () => {
    const { store } = replica();
    const eventId = id();
    let runs = 0;
    const run = (): Promise<Outcome> => (runs++, Promise.resolve(ack));
    expect(await guard(store, opts(eventId), run)).toEqual(ack);
    expect(await guard(store, opts(eventId), run)).toEqual(ack);
    expect(runs).toBe(1);
    expect(await store.isDone({ group: "billing", eventId })).toBe(true);
    expect((await store.claim({ group: "search", eventId }, times)).state).toBe("claimed");
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
    await crashed.pool.end(); // the replica is gone, its claim stays
    expect((await other.store.claim({ group: "g", eventId }, leased)).state).toBe("busy");
    await sleep(1600);
    const taken = await other.store.claim({ group: "g", eventId }, leased);
    expect(taken.state).toBe("claimed");
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
    const rows = await pool.query("select 1 from cozebus_inbox where consumer_group = 'ret' and event_id = $1", [eventId]);
    expect(rows.rowCount).toBe(0);
    expect((await store.claim({ group: "ret", eventId }, short)).state).toBe("claimed");
  });

  it("complete inside the handler's transaction rolls back with it; the redelivery runs again and commits both", async () => {
    const { store, pool } = replica();
    await pool.query("create table if not exists invoices (event_id text primary key, amount int)");
    const eventId = id();
    let attempt = 0;
    const handler = (): Promise<Outcome> =>
      guard(store, opts(eventId), (claim) =>
        store.transaction(claim, async (tx) => {
          attempt++;
          await tx.query("insert into invoices values ($1, 10)", [eventId]);
          if (attempt === 1) throw new Error("the handler fails after its write");
          return ack;
        }),
      );
    await expect(handler()).rejects.toThrow("the handler fails after its write");
    expect((await pool.query("select 1 from invoices where event_id = $1", [eventId])).rowCount).toBe(0);
    expect(await store.isDone({ group: "billing", eventId })).toBe(false);
    expect(await handler()).toEqual(ack);
    expect((await pool.query("select 1 from invoices where event_id = $1", [eventId])).rowCount).toBe(1);
    expect(await store.isDone({ group: "billing", eventId })).toBe(true);
    expect(await handler()).toEqual(ack);
    expect(attempt).toBe(2);
  });

  it("marked in its own transaction: two replicas running the same event (lease lapsed) commit its writes once; the loser rolls back and is acked", async () => {
    const a = replica();
    const b = replica();
    await a.pool.query("create table if not exists payments (event_id text, replica text)");
    const eventId = id();
    const short = opts(eventId, { leaseMs: 150, renewEveryMs: false });
    const ran: string[] = [];
    const handle = (r: { store: PostgresInboxStore }, name: string, before: number, inside: number) =>
      guard(r.store, short, async (claim) => {
        ran.push(name);
        await sleep(before);
        return r.store.transaction(claim, async (tx) => {
          await tx.query("insert into payments values ($1, $2)", [eventId, name]);
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
    const rows = await a.pool.query<{ replica: string }>("select replica from payments where event_id = $1", [eventId]);
    expect(rows.rows).toEqual([{ replica: "b" }]);
  });

  it("a mark that fails after the handler succeeded: retry, never ack; once the store is back, the redelivery to this process is marked and acked, not run again (guard remembers the unmarked id)", async () => {
    const { store } = replica();
    const eventId = id();
    let runs = 0;
    const o = opts(eventId, { leaseMs: 300, renewEveryMs: false, unavailableDelayMs: 50 });
    const out = await guard(store, o, async () => {
      runs++;
      await db.kill("SIGINT"); // the database goes away while the handler runs (fast shutdown: its sessions end first)
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
