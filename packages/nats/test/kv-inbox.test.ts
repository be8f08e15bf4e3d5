import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import { guard } from "@cozebus/core/inbox";
import type { Outcome } from "@cozebus/core/transport";
import { isCozebusError } from "@cozebus/core";
import { NatsKvInboxStore, kvInboxKey, openBus, type Bus } from "../src/index.js";
import { memoryLogger, sleep } from "./helpers.js";

let server: NatsServer;
const buses: Bus[] = [];

/** One replica: its own connection to the same server. */
async function replica(options: ConstructorParameters<typeof NatsKvInboxStore>[1] = {}): Promise<{ bus: Bus; store: NatsKvInboxStore }> {
  const bus = await openBus({ servers: server.url, env: {}, logger: memoryLogger() });
  buses.push(bus);
  return { bus, store: new NatsKvInboxStore(bus, options) };
}

beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await Promise.all(buses.map((b) => b.close().catch(() => undefined)));
  await server?.stop();
});

const ack: Outcome = { type: "ack" };
const times = { leaseMs: 5_000, retentionMs: 60_000 };
let n = 0;
const group = (): string => `g${++n}`;
const id = (): string => `evt${++n}${Math.random().toString(36).slice(2, 8)}`;

describe("NatsKvInboxStore", () => {
  it("claim -> complete -> done, skipped by guard; the bucket is made on first use, with per-key TTL where the server has it", async () => {
    const { bus, store } = await replica();
    const g = group();
    const eventId = id();
    let runs = 0;
    const run = (): Promise<Outcome> => (runs++, Promise.resolve(ack));
    const opts = { group: g, eventId, ...times, duplicateWindowMs: 1000 };
    expect(await guard(store, opts, run)).toEqual(ack);
    expect(await guard(store, opts, run)).toEqual(ack);
    expect(runs).toBe(1);
    const info = await store.bucketInfo(g, times.retentionMs);
    expect(info.bucket).toBe(`cozebus_inbox_${g}`);
    expect(info.mode).toBe(bus.server.supports("kv-key-ttl") ? "key-ttl" : "max-age");
    if (info.mode === "max-age") expect(info.maxAgeMs).toBe(times.retentionMs);
  });

  it("ids of any shape: a non-cozebus position key is stored base64url-encoded", async () => {
    const { store } = await replica();
    expect(kvInboxKey("abcDEF_-=09")).toBe("abcDEF_-=09");
    expect(kvInboxKey("pos:COZE_X#7")).toMatch(/^b64\.[-_A-Za-z0-9]+$/);
    const c = await store.claim({ group: group(), eventId: "pos:COZE_X#7 with spaces/and.dots" }, times);
    expect(c.state).toBe("claimed");
  });

  it("two replicas claiming the same ids at once: for each id exactly one claims, the other is busy", async () => {
    const a = await replica();
    const b = await replica();
    const g = group();
    await a.store.provision(g, { retentionMs: times.retentionMs });
    const ids = Array.from({ length: 40 }, id);
    const results = await Promise.all(ids.map((eventId) => Promise.all([a.store.claim({ group: g, eventId }, times), b.store.claim({ group: g, eventId }, times)])));
    for (const [ra, rb] of results) {
      expect([ra.state, rb.state].sort()).toEqual(["busy", "claimed"]);
      const busy = ra.state === "busy" ? ra : rb;
      expect(busy.state === "busy" && busy.retryInMs > 4_000 && busy.retryInMs <= 5_000).toBe(true);
    }
  });

  it("two replicas handling one event at once through guard: one runs, the other gets a retry; the redelivery is acked without running", async () => {
    const a = await replica();
    const b = await replica();
    const g = group();
    const eventId = id();
    let runs = 0;
    const slow = async (): Promise<Outcome> => {
      runs++;
      await sleep(300);
      return ack;
    };
    const opts = { group: g, eventId, ...times, duplicateWindowMs: 1000 };
    await a.store.provision(g, times);
    const [oa, ob] = await Promise.all([guard(a.store, opts, slow), guard(b.store, opts, slow)]);
    expect(runs).toBe(1);
    const other = oa.type === "ack" ? ob : oa;
    expect(isCozebusError((other as { error: unknown }).error, "INBOX_BUSY")).toBe(true);
    expect(await guard(b.store, opts, slow)).toEqual(ack);
    expect(runs).toBe(1);
  });

  it("a replica that crashed holding a claim: its lease lapses and another replica runs the event; a release frees it at once", async () => {
    const crashed = await replica();
    const other = await replica();
    const g = group();
    const eventId = id();
    const leased = { leaseMs: 1500, retentionMs: 60_000 };
    expect((await crashed.store.claim({ group: g, eventId }, leased)).state).toBe("claimed");
    await crashed.bus.close();
    expect((await other.store.claim({ group: g, eventId }, leased)).state).toBe("busy");
    await sleep(1600);
    const taken = await other.store.claim({ group: g, eventId }, leased);
    expect(taken.state).toBe("claimed");
    if (taken.state !== "claimed") return;
    // The old claim's token no longer releases anything; this one does.
    await other.store.release({ ...taken.claim, token: "1" });
    expect((await other.store.claim({ group: g, eventId }, leased)).state).toBe("busy");
    await other.store.release(taken.claim);
    expect((await other.store.claim({ group: g, eventId }, leased)).state).toBe("claimed");
  });

  it("retention: a done id is forgotten after it (the server removes the entry in key-ttl mode)", async () => {
    const { bus, store } = await replica();
    const g = group();
    const eventId = id();
    const short = { leaseMs: 200, retentionMs: 1000 };
    const c = await store.claim({ group: g, eventId }, short);
    if (c.state !== "claimed") throw new Error("expected a claim");
    await store.complete(c.claim);
    expect((await store.claim({ group: g, eventId }, short)).state).toBe("done");
    await sleep(1100);
    if (bus.server.supports("kv-key-ttl")) {
      // The server itself drops the entry (its TTL), not only the value's own expiry.
      const kv = await new Kvm((await bus.jetstream()).js).open(store.bucketOf(g));
      let gone = false;
      for (let i = 0; i < 60 && !gone; i++) {
        const e = await kv.get(kvInboxKey(eventId));
        gone = e === null || e.operation !== "PUT";
        if (!gone) await sleep(100);
      }
      expect(gone).toBe(true);
    }
    expect((await store.claim({ group: g, eventId }, short)).state).toBe("claimed");
  });

  it("a bucket made before per-key TTL (no allow_msg_ttl) is used in max-age mode; a longer retention raises its max age", async () => {
    const { bus, store } = await replica();
    const g = group();
    const kvm = new Kvm((await bus.jetstream()).js);
    await kvm.create(store.bucketOf(g), { history: 1, ttl: 120_000 });
    const p = await store.provision(g, { retentionMs: 300_000 });
    expect(p).toMatchObject({ mode: "max-age", maxAgeMs: 300_000, action: "updated" });
    const again = await store.provision(g, { retentionMs: 200_000 });
    expect(again).toMatchObject({ mode: "max-age", maxAgeMs: 300_000, action: "unchanged" }); // never lowered
    const c = await store.claim({ group: g, eventId: id() }, { leaseMs: 1000, retentionMs: 200_000 });
    expect(c.state).toBe("claimed");
  });

  it("createOnDemand: false refuses a missing bucket, and guard retries instead of running the handler", async () => {
    const { store } = await replica({ createOnDemand: false });
    let ran = false;
    const out = await guard(store, { group: group(), eventId: id(), ...times, duplicateWindowMs: 1000 }, () => ((ran = true), Promise.resolve(ack)));
    expect(ran).toBe(false);
    expect(isCozebusError((out as { error: unknown }).error, "INBOX_UNAVAILABLE")).toBe(true);
  });

  it("a server that is down: claims fail, guard retries without running the handler; after the restart it runs", async () => {
    const { store } = await replica();
    const g = group();
    await store.provision(g, times);
    await server.kill("SIGKILL");
    let runs = 0;
    const opts = { group: g, eventId: id(), ...times, duplicateWindowMs: 1000 };
    const out = await guard(store, opts, () => (runs++, Promise.resolve(ack)));
    expect(out.type).toBe("retry");
    expect(runs).toBe(0);
    await server.start();
    let back: Outcome | undefined;
    for (let i = 0; i < 100 && back?.type !== "ack"; i++) {
      back = await guard(store, opts, () => (runs++, Promise.resolve(ack)));
      if (back.type !== "ack") await sleep(100);
    }
    expect(back).toEqual(ack);
    expect(runs).toBe(1);
  });
});
