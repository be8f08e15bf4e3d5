/**
 * What cozebus uses from newer nats-servers, and the fallback it takes on
 * older ones. Every case asserts the branch the running server takes, so the
 * file means something on each version of the matrix.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import { FeatureUnavailableError, domainClient, openBus, type BatchReceipt, type Bus, type JetStream, type PublishOptions, type PublishReceipt } from "../src/index.js";
import { ensureConsumer } from "../src/jetstream/consumer.js";
import { memoryLogger, sleep, waitFor } from "./helpers.js";
import { testDomain, type Payload } from "./typed-domain.js";

let server: NatsServer;
let bus: Bus;
let js: JetStream;

beforeAll(async () => {
  server = await startNatsServer();
  bus = await openBus({ servers: server.url, env: {}, logger: memoryLogger(), onError: () => undefined });
  js = await bus.jetstream();
});
afterAll(async () => {
  await bus?.close();
  await server?.stop();
});

describe(`server features (nats-server ${process.env["COZEBUS_NATS_VERSION"] ?? "default"})`, () => {
  it("subscribeAll of a chosen set of events: one consumer with filter_subjects on 2.10+, one per event before", async () => {
    const client = domainClient(bus, testDomain("subset", "new", "jetstream"));
    await client.provision();
    const got: string[] = [];
    const sub = await client.subscribeAll((e) => void got.push(`${e.type}:${(e.event as Payload).payload}`), { group: "pick", events: ["a", "c"] });
    try {
      for (const name of ["a", "b", "c"]) await (client as unknown as Record<string, { publish(p: Partial<Payload>): Promise<unknown> }>)[name]!.publish({ key: "k", payload: name });
      await waitFor("a and c", () => got.length === 2);
      expect(got.sort()).toEqual(["a:a", "c:c"]);
      const consumers = [];
      for await (const c of js.jsm.consumers.list("COZE_SUBSET")) consumers.push(c.config);
      if (bus.server.supports("multi-filter")) {
        expect(consumers).toHaveLength(1);
        expect([...(consumers[0]!.filter_subjects ?? [])].sort()).toEqual(["coze.subset.*.a", "coze.subset.*.c"]);
      } else {
        expect(consumers.map((c) => c.filter_subject).sort()).toEqual(["coze.subset.*.a", "coze.subset.*.c"]);
      }
    } finally {
      await sub.stop();
    }
    await expect(client.subscribeAll(() => undefined, { group: "pick", events: ["nope" as "a"] })).rejects.toThrow(/nope is not an event of subset \(events: a, b, c\)/);
  });

  it("a consumer created concurrently with another config: refused by the create action on 2.10+, then reconciled explicitly", async () => {
    await js.ensureStream(js.domainStream("race", ["coze.race.>"]));
    const base = { durable_name: "racer", ack_policy: "explicit" as const, deliver_policy: "all" as const, max_deliver: 5, max_ack_pending: 100, ack_wait: 30e9 };
    const results = await Promise.all([ensureConsumer(js.jsm, "COZE_RACE", base), ensureConsumer(js.jsm, "COZE_RACE", { ...base, max_deliver: 9 })]);
    if (bus.server.supports("consumer-create-action")) {
      // One create wins; the other is refused, reads what is there and updates it explicitly.
      expect([...results].sort()).toEqual(["created", "updated"]);
    } else {
      // 2.9 ignores the action: both creates may "succeed", the last one silently overwriting the first.
      expect([["created", "created"], ["created", "updated"]]).toContainEqual([...results].sort());
    }
    const info = await js.jsm.consumers.info("COZE_RACE", "racer");
    expect([5, 9]).toContain(info.config.max_deliver);
  });

  type Pub = { publish(p: Partial<Payload>, o?: PublishOptions): Promise<PublishReceipt>; publishBatch(p: Array<Partial<Payload>>, o?: { atomic?: boolean }): Promise<BatchReceipt[]> };
  const eventOf = (client: unknown, name: string): Pub => (client as Record<string, Pub>)[name]!;

  it("publish({ ttlMs }): the event expires on 2.11+; refused with the version needed before, and on core delivery", async () => {
    const client = domainClient(bus, testDomain("ttl", "old", "jetstream"));
    await client.provision();
    if (bus.server.supports("msg-ttl")) {
      const r = await eventOf(client, "a").publish({ key: "k", payload: "short-lived" }, { ttlMs: 1000 });
      expect(r.position).toMatch(/^COZE_TTL#[1-9]\d*$/);
      await waitFor("the event to expire", async () => (await js.jsm.streams.info("COZE_TTL")).state.messages === 0, 10_000);
    } else {
      const err = await eventOf(client, "a").publish({ key: "k", payload: "x" }, { ttlMs: 1000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FeatureUnavailableError);
      expect((err as Error).message).toMatch(/publish with ttlMs needs nats-server 2\.11\.0 or later; this server is 2\.\d+\.\d+/);
      expect((await js.jsm.streams.info("COZE_TTL")).state.messages).toBe(0); // nothing was sent
    }
    const core = domainClient(bus, testDomain("ttlcore", "old", "core"));
    await expect(eventOf(core, "a").publish({ key: "k", payload: "x" }, { ttlMs: 5000 })).rejects.toThrow(/ttlMs needs per-event expiry.*delivered at-most-once/);
    if (bus.server.supports("msg-ttl")) await expect(eventOf(client, "a").publish({ key: "k", payload: "x" }, { ttlMs: 10 })).rejects.toThrow(/at least 1000/);
  });

  it("publish({ deliverAt }): held by the server until then on 2.12 (the schedule itself never reaches a handler); refused before", async () => {
    const client = domainClient(bus, testDomain("later", "old", "jetstream"));
    if (bus.server.supports("msg-schedules")) {
      await expect(client.provision({ schedules: true })).rejects.toThrow(/message schedules need discard "old"/);
      await client.provision({ limits: { discard: "old" }, schedules: true });
    } else {
      await expect(client.provision({ limits: { discard: "old" }, schedules: true })).rejects.toThrow(/delayed publishes need nats-server 2\.12\.0 or later/);
      await client.provision();
    }
    const got: Array<{ id: string; at: number; payload: string }> = [];
    const sub = await client.subscribeAll((e) => void got.push({ id: e.ctx.id, at: Date.now(), payload: (e.event as Payload).payload }), { group: "later" });
    try {
      const at = new Date(Date.now() + 1500);
      if (bus.server.supports("msg-schedules")) {
        const r = await eventOf(client, "a").publish({ key: "k", payload: "on time" }, { deliverAt: at });
        await waitFor("the delayed event", () => got.length === 1, 15_000);
        expect(got[0]).toMatchObject({ id: r.id, payload: "on time" });
        expect(got[0]!.at).toBeGreaterThanOrEqual(at.getTime() - 5); // never before it is due (clock granularity)
        await sleep(500);
        expect(got).toHaveLength(1);
        // A stream without schedules (the default, discard new) refuses a delayed event with the fix.
        const plain = domainClient(bus, testDomain("notlater", "old", "jetstream"));
        await plain.provision();
        await expect(eventOf(plain, "a").publish({ key: "k", payload: "x" }, { deliverAt: at })).rejects.toThrow(/provision the domain with \{ schedules: true \}/);
      } else {
        await expect(eventOf(client, "a").publish({ key: "k", payload: "x" }, { deliverAt: at })).rejects.toThrow(/publish with deliverAt needs nats-server 2\.12\.0 or later/);
      }
    } finally {
      await sub.stop();
    }
  });

  it("publishBatch({ atomic: true }): all stored or none on 2.12; refused before", async () => {
    const client = domainClient(bus, testDomain("atom", "old", "jetstream"));
    await client.provision({ limits: { maxMsgSize: 1024 } });
    const a = eventOf(client, "a");
    if (bus.server.supports("atomic-batch")) {
      const ok = await a.publishBatch([1, 2, 3].map((i) => ({ key: `k${i}`, payload: String(i) })), { atomic: true });
      expect(ok.every((r) => r.ok)).toBe(true);
      const seqs = ok.map((r) => (r.ok ? Number(r.receipt.position?.split("#")[1]) : 0));
      expect(seqs).toEqual([seqs[0], seqs[0]! + 1, seqs[0]! + 2]);
      // One event too large for the stream: the whole batch is refused and nothing is stored.
      const before = (await js.jsm.streams.info("COZE_ATOM")).state.messages;
      const bad = await a.publishBatch([{ key: "k", payload: "fine" }, { key: "k", payload: "x".repeat(4096) }, { key: "k", payload: "fine too" }], { atomic: true });
      expect(bad.every((r) => !r.ok)).toBe(true);
      expect((await js.jsm.streams.info("COZE_ATOM")).state.messages).toBe(before);
    } else {
      await expect(a.publishBatch([{ key: "k", payload: "1" }], { atomic: true })).rejects.toThrow(/needs nats-server 2\.12\.0 or later/);
    }
    // Not atomic: pipelined, one result each (the oversized one fails alone).
    const mixed = await a.publishBatch([{ key: "k", payload: "fine" }, { key: "k", payload: "x".repeat(4096) }]);
    expect(mixed.map((r) => r.ok)).toEqual([true, false]);
  });

  it('subscribe({ orderBy: "key" }): one order per key across two instances of the group on 2.11+; refused before, and on core', async () => {
    const client = domainClient(bus, testDomain("bykey", "old", "jetstream"));
    await client.provision();
    const a = eventOf(client, "a") as Pub & { subscribe(h: (e: Payload) => void, o: { group: string; orderBy: "key"; retry?: object }): Promise<{ stop(): Promise<void> }> };
    if (!bus.server.supports("pinned-client")) {
      await expect(a.subscribe(() => undefined, { group: "bykey", orderBy: "key" })).rejects.toThrow(/needs nats-server 2\.11\.0 or later/);
    } else {
      const other = await openBus({ servers: server.url, env: {}, logger: memoryLogger(), onError: () => undefined });
      try {
        const seen = new Map<string, number[]>();
        const note = (e: Payload): void => void seen.set(e.key, [...(seen.get(e.key) ?? []), Number(e.payload)]);
        const b = eventOf(domainClient(other, testDomain("bykey", "old", "jetstream")), "a") as typeof a;
        // ackWaitMs 5 s: an event delivered to the first instance just as the second joins and takes its partition can be
        // stranded (never reaching the first instance's handler); the new owner's fence rightly waits for it, until the
        // server redelivers it after the ack wait — 30 s by default, this test's whole deadline (seen in 1 of 24 runs at
        // load ~20: ack pending 11, 10 held by the new owner, delivery 30 with neither). An open defect of the handover.
        const opts = { group: "bykey", orderBy: "key" as const, retry: { ackWaitMs: 5_000 } };
        const subs = [await a.subscribe(note, opts), await b.subscribe(note, opts)];
        for (let i = 0; i < 200; i++) await a.publish({ key: `k${i % 5}`, payload: String(i) });
        await waitFor("every event", () => [...seen.values()].reduce((n, l) => n + l.length, 0) >= 200, 30_000);
        for (const [key, list] of seen) expect(list, key).toEqual([...list].sort((x, y) => x - y));
        await Promise.all(subs.map((x) => x.stop()));
      } finally {
        await other.close();
      }
    }
    const core = domainClient(bus, testDomain("bykeycore", "old", "core"));
    await expect((eventOf(core, "a") as typeof a).subscribe(() => undefined, { group: "g", orderBy: "key" })).rejects.toThrow(/orderBy "key" needs at-least-once delivery/);
  });
});
