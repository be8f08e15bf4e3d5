import { describe, expect, it } from "vitest";
import type { Outcome } from "../src/transport.js";
import {
  AlreadyHandledError,
  InboxKeyError,
  MemoryInboxStore,
  guard,
  inboxEventId,
  inboxTimes,
  type InboxClaim,
  type InboxStore,
} from "../src/inbox/index.js";
import { isCozebusError } from "../src/errors.js";

const ack: Outcome = { type: "ack" };
const opts = { group: "g", eventId: "e1", leaseMs: 1000, retentionMs: 60_000, duplicateWindowMs: 1000 };

/** Wraps a store so single operations can be made to fail (the store's own tests use real databases). */
function flaky(inner: InboxStore): InboxStore & { fail: Set<string>; calls: string[] } {
  const fail = new Set<string>();
  const calls: string[] = [];
  const gate = async <T>(op: string, f: () => Promise<T>): Promise<T> => {
    calls.push(op);
    if (fail.has(op)) throw new Error(`${op} is down`);
    return f();
  };
  return {
    name: "flaky",
    fail,
    calls,
    claim: (k, t) => gate("claim", () => inner.claim(k, t)),
    complete: (c) => gate("complete", () => inner.complete(c)),
    release: (c) => gate("release", () => inner.release(c)),
    extend: (c) => gate("extend", () => inner.extend(c)),
  };
}

describe("guard", () => {
  it("runs once; a second delivery of the same id is acked without running; another group runs it on its own", async () => {
    const store = new MemoryInboxStore();
    let runs = 0;
    const handler = (): Promise<Outcome> => (runs++, Promise.resolve(ack));
    expect(await guard(store, opts, handler)).toEqual(ack);
    expect(await guard(store, opts, handler)).toEqual(ack);
    expect(runs).toBe(1);
    await guard(store, { ...opts, group: "other" }, handler);
    expect(runs).toBe(2);
  });

  it("busy: while one replica runs the id, another gets a retry after the holder's remaining lease, and does not run", async () => {
    const store = new MemoryInboxStore();
    let release!: () => void;
    const first = guard(store, opts, () => new Promise<Outcome>((r) => (release = () => r(ack))));
    await new Promise((r) => setTimeout(r, 10));
    let ran = false;
    const second = await guard(store, opts, () => ((ran = true), Promise.resolve(ack)));
    expect(ran).toBe(false);
    expect(second.type).toBe("retry");
    expect(isCozebusError((second as { error: unknown }).error, "INBOX_BUSY")).toBe(true);
    const delay = (second as { delayMs: number }).delayMs;
    expect(delay).toBeGreaterThan(900);
    expect(delay).toBeLessThanOrEqual(1000);
    release();
    await first;
    expect(await guard(store, opts, () => ((ran = true), Promise.resolve(ack)))).toEqual(ack);
    expect(ran).toBe(false);
  });

  it("a failed handler releases its claim: the next delivery runs at once", async () => {
    const store = new MemoryInboxStore();
    const failed = await guard(store, opts, () => Promise.resolve({ type: "retry", delayMs: 5 }));
    expect(failed).toEqual({ type: "retry", delayMs: 5 });
    await expect(guard(store, opts, () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    let runs = 0;
    await guard(store, opts, () => (runs++, Promise.resolve(ack)));
    expect(runs).toBe(1);
  });

  it("handler succeeded, mark failed: a retry, never an ack; a redelivery to this process is marked and acked, never run again", async () => {
    let now = 0;
    const store = flaky(new MemoryInboxStore(() => now));
    store.fail.add("complete");
    let runs = 0;
    const handler = (): Promise<Outcome> => (runs++, Promise.resolve(ack));
    const quick = { ...opts, renewEveryMs: false as const, unavailableDelayMs: 60_000 }; // no background mark during the test
    const out = await guard(store, quick, handler);
    expect(out.type).toBe("retry");
    expect(isCozebusError((out as { error: unknown }).error, "INBOX_UNAVAILABLE")).toBe(true);
    expect(store.calls).not.toContain("release");
    // Still down: the redelivery is a retry again, and the handler does not run.
    expect((await guard(store, quick, handler)).type).toBe("retry");
    store.fail.clear();
    now += 1001; // the claim lapsed, too: this process still knows it ran the handler
    expect(await guard(store, quick, handler)).toEqual(ack);
    expect(runs).toBe(1);
    expect(store.calls.filter((c) => c === "claim").length).toBe(1); // the redeliveries went straight to the mark
    // Done for everyone now.
    expect(await guard(flaky(store), quick, handler)).toEqual(ack);
    expect(runs).toBe(1);
  });

  it("handler succeeded, mark failed: the mark is tried again in the background, so another replica finds the id done", async () => {
    let now = 0;
    const shared = new MemoryInboxStore(() => now);
    const a = flaky(shared);
    const b = flaky(shared); // another replica: its own store instance over the same data
    a.fail.add("complete");
    let runs = 0;
    const handler = (): Promise<Outcome> => (runs++, Promise.resolve(ack));
    const o = { ...opts, renewEveryMs: false as const, unavailableDelayMs: 50 };
    expect((await guard(a, o, handler)).type).toBe("retry");
    a.fail.clear(); // the store is back: the background mark lands within its next tries
    await new Promise((r) => setTimeout(r, 400));
    now += 1001; // past the lease: without the mark, b would claim and run it
    expect(await guard(b, o, handler)).toEqual(ack);
    expect(runs).toBe(1);
    expect(a.calls.filter((c) => c === "complete").length).toBeGreaterThanOrEqual(2);
  });

  it("handler succeeded, mark failed on this replica and still failing: another replica past the lease runs it again (at least once)", async () => {
    let now = 0;
    const shared = new MemoryInboxStore(() => now);
    const a = flaky(shared);
    a.fail.add("complete");
    let runs = 0;
    const handler = (): Promise<Outcome> => (runs++, Promise.resolve(ack));
    const o = { ...opts, renewEveryMs: false as const, unavailableDelayMs: 60_000 };
    expect((await guard(a, o, handler)).type).toBe("retry");
    expect((await guard(flaky(shared), o, handler)).type).toBe("retry"); // inside the lease: busy
    now += 1001;
    expect(await guard(flaky(shared), o, handler)).toEqual(ack);
    expect(runs).toBe(2);
  });

  it("a store that is down on claim: retry, the handler never runs unguarded", async () => {
    const store = flaky(new MemoryInboxStore());
    store.fail.add("claim");
    let ran = false;
    const out = await guard(store, { ...opts, unavailableDelayMs: 250 }, () => ((ran = true), Promise.resolve(ack)));
    expect(ran).toBe(false);
    expect(out).toMatchObject({ type: "retry", delayMs: 250 });
  });

  it("AlreadyHandledError from the handler's own transaction is an ack (thrown or as a retry's error)", async () => {
    const store = new MemoryInboxStore();
    expect(await guard(store, opts, (c: InboxClaim) => Promise.reject(new AlreadyHandledError(c)))).toEqual(ack);
    expect(await guard(store, { ...opts, eventId: "e2" }, (c) => Promise.resolve({ type: "retry", delayMs: 1, error: new AlreadyHandledError(c) }))).toEqual(ack);
  });

  it("renews the claim while a long handler runs, so no other replica takes it over", async () => {
    const store = flaky(new MemoryInboxStore());
    let ranSecond = false;
    const long = guard(store, { ...opts, leaseMs: 300 }, () => new Promise<Outcome>((r) => setTimeout(() => r(ack), 1200)));
    await new Promise((r) => setTimeout(r, 800));
    expect((await guard(store, { ...opts, leaseMs: 300 }, () => ((ranSecond = true), Promise.resolve(ack)))).type).toBe("retry");
    expect(await long).toEqual(ack);
    expect(ranSecond).toBe(false);
    expect(store.calls.filter((c) => c === "extend").length).toBeGreaterThanOrEqual(3);
  });

  it("retention shorter than the duplicate window is refused", () => {
    expect(() => inboxTimes({ retentionMs: 60_000 })).toThrow(/duplicate window \(120000 ms\)/);
    expect(inboxTimes({})).toEqual({ leaseMs: 30_000, retentionMs: 86_400_000 });
  });

  it("keys by ce-id, else by the broker's position, else refuses (non-retryable)", () => {
    const base = { subject: "coze.x.1.y", position: "COZE_X#7" };
    expect(inboxEventId({ ...base, event: { id: "abc" } as never })).toBe("abc");
    expect(inboxEventId({ ...base, event: undefined })).toBe("pos:COZE_X#7");
    expect(() => inboxEventId({ subject: "coze.x.1.y", position: undefined, event: undefined })).toThrow(InboxKeyError);
  });
});
