/**
 * One conformance suite every cozebus transport mode must pass (after
 * Watermill's pub/sub tests). A mode declares what it does not promise
 * (core NATS has no redelivery, no persistence, no dead letters) and the
 * cases needing that are skipped for it, by name, never silently.
 *
 *   import { runConformanceSuite } from "@cozebus/testing/conformance";
 *   runConformanceSuite("jetstream", () => makeTransport(), { redelivery: true, ... });
 */
import { afterEach, describe, expect, it } from "vitest";

export interface ConformanceMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** The event id (ce-id). */
  readonly id: string;
  /** 1 on first delivery. */
  readonly attempt: number;
  header(name: string): string | undefined;
}

export interface ConformanceSubscribeOptions {
  readonly concurrency?: number;
  /** Handle events of the same subject one at a time, in order. */
  readonly orderBySubject?: boolean;
  readonly maxDeliveries?: number;
  /** Redelivery delay after a failure (the nak delay). */
  readonly retryDelayMs?: number;
  readonly ackWaitMs?: number;
}

export interface ConformanceSubscription {
  /** Graceful stop: running handlers finish. */
  stop(): Promise<void>;
}

export interface ConformanceDeadLetter {
  readonly subject: string;
  readonly deliveries: number;
  readonly reason: string;
  /** The event's id (ce-id), when it had one. */
  readonly id?: string;
}

/** An event as a typed handler received it. */
export interface TypedDelivery {
  /** The event's name in its domain client (`a`, `b`, `c`). */
  readonly name: string;
  readonly key: string;
  readonly payload: string;
  readonly id: string;
  readonly attempt: number;
}

/**
 * One build of a small test domain, driven through the typed layer
 * (EventClient, domainClient().subscribeAll, provision). The suite asks for
 * an "old" build that knows events `a` and `b` and a "new" build that also
 * knows `c`: one minor schema release, as it rolls through a fleet. Each
 * event's subject has one field, `key`; its payload is a string.
 */
export interface TypedBuild {
  /** The events this build knows. */
  readonly events: readonly string[];
  /** The domain client's provision(): additive on a shared stream. */
  provision(): Promise<void>;
  publish(event: string, key: string, payload: string): Promise<{ readonly id: string }>;
  /** EventClient.subscribe of one event. */
  subscribe(event: string, group: string, handler: (e: TypedDelivery) => void | Promise<void>, options?: ConformanceSubscribeOptions): Promise<ConformanceSubscription>;
  /** domainClient().subscribeAll: every event of the domain, one handler. */
  subscribeAll(group: string, handler: (e: TypedDelivery) => void | Promise<void>, options?: ConformanceSubscribeOptions): Promise<ConformanceSubscription>;
  /** The subject an event of this build with this key is published on (for raw publishes of foreign or broken events). */
  subjectOf(event: string, key: string): string;
}

/** What the suite drives. `subject(...)` returns subjects under the transport's own root. */
export interface ConformanceTransport {
  /** A subject for this test under a root the transport captures: `<root>.<a>.<b>`. */
  subject(...tokens: string[]): string;
  /** A pattern matching every subject made with these leading tokens. */
  pattern(...tokens: string[]): string;
  /** A raw publish; `type` is the event type (ce-type) to send, the transport's own test type when omitted. */
  publish(subject: string, data: Uint8Array, headers?: Readonly<Record<string, string>>, type?: string): Promise<{ readonly id: string }>;
  subscribe(
    pattern: string,
    group: string,
    handler: (m: ConformanceMessage) => void | Promise<void>,
    options?: ConformanceSubscribeOptions,
  ): Promise<ConformanceSubscription>;
  /** Throw this from a handler for a message that can never succeed. */
  nonRetryable(message: string): Error;
  deadLetters(): Promise<ConformanceDeadLetter[]>;
  /** Replays the dead letters of one reason (all when omitted) to where they came from; returns how many. */
  replayDeadLetters(reason?: string): Promise<number>;
  /**
   * The typed layer on this connection: a build ("old": events a, b; "new":
   * a, b, c) of the test domain `domain` (lower-case, unique per test).
   */
  typed(domain: string, build: "old" | "new"): Promise<TypedBuild>;
  /** A second, independent connection (another instance of the service). */
  peer(): Promise<ConformanceTransport>;
  /** Restart the server, keeping its store. */
  restartServer(): Promise<void>;
  /** Graceful: publishes in flight complete, subscriptions drain. */
  drain(): Promise<void>;
}

/** Promises a mode makes; cases needing a promise the mode does not make are skipped. */
export interface ConformanceFeatures {
  /** A failed or unacknowledged event is delivered again. */
  readonly redelivery: boolean;
  /** Events survive server restarts and wait for subscribers that are not running yet. */
  readonly durable: boolean;
  readonly deadLetters: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`conformance: timed out waiting for ${what}`);
    await sleep(10);
  }
}

export function runConformanceSuite(
  mode: string,
  makeTransport: () => Promise<{ transport: ConformanceTransport; cleanup: () => Promise<void> }>,
  features: ConformanceFeatures,
): void {
  describe(`conformance: ${mode}`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    });
    const setup = async (): Promise<ConformanceTransport> => {
      const { transport, cleanup } = await makeTransport();
      cleanups.push(cleanup);
      return transport;
    };
    const when = (needed: boolean): typeof it | typeof it.skip => (needed ? it : it.skip);

    it("round trip with headers", async () => {
      const t = await setup();
      const got: ConformanceMessage[] = [];
      await t.subscribe(t.pattern("rt"), "g", (m) => void got.push(m));
      const sent = await t.publish(t.subject("rt", "one"), bytes("payload"), { "x-app": "value" });
      await until("the event", () => got.length === 1);
      expect(text(got[0]!.data)).toBe("payload");
      expect(got[0]!.id).toBe(sent.id);
      expect(got[0]!.header("x-app")).toBe("value");
      expect(got[0]!.subject).toBe(t.subject("rt", "one"));
    });

    it("50 publishers x 50 subscribers, 5,000 events, nothing lost", async () => {
      const t = await setup();
      const received = new Set<string>();
      const peers = await Promise.all(Array.from({ length: 5 }, () => t.peer()));
      const nodes = [t, ...peers];
      // 50 subscribers in one group, spread over the connections.
      for (let i = 0; i < 50; i++) {
        await nodes[i % nodes.length]!.subscribe(t.pattern("load"), "workers", (m) => void received.add(m.id));
      }
      const ids: string[] = [];
      await Promise.all(
        Array.from({ length: 50 }, async (_, p) => {
          const node = nodes[p % nodes.length]!;
          for (let i = 0; i < 100; i++) ids.push((await node.publish(t.subject("load", `p${p}`), bytes(String(i)))).id);
        }),
      );
      await until("5,000 events", () => received.size === 5000, 60_000);
      expect(new Set(ids)).toEqual(received);
    });

    it("topic isolation", async () => {
      const t = await setup();
      const a: string[] = [];
      const b: string[] = [];
      await t.subscribe(t.pattern("iso-a"), "g", (m) => void a.push(m.subject));
      await t.subscribe(t.pattern("iso-b"), "g", (m) => void b.push(m.subject));
      await t.publish(t.subject("iso-a", "x"), bytes(""));
      await t.publish(t.subject("iso-b", "x"), bytes(""));
      await t.publish(t.subject("iso-b", "y"), bytes(""));
      await until("all three", () => a.length === 1 && b.length === 2);
      await sleep(200);
      expect(a).toEqual([t.subject("iso-a", "x")]);
      expect(b.sort()).toEqual([t.subject("iso-b", "x"), t.subject("iso-b", "y")]);
    });

    it("two groups each receive everything while members of one group split it", async () => {
      const t = await setup();
      const peer = await t.peer();
      const g1a: string[] = [];
      const g1b: string[] = [];
      const g2: string[] = [];
      await t.subscribe(t.pattern("groups"), "g1", (m) => void g1a.push(m.id));
      await peer.subscribe(t.pattern("groups"), "g1", (m) => void g1b.push(m.id));
      await t.subscribe(t.pattern("groups"), "g2", (m) => void g2.push(m.id));
      for (let i = 0; i < 400; i++) await t.publish(t.subject("groups", `e${i % 10}`), bytes(String(i)));
      await until("group 1", () => g1a.length + g1b.length === 400);
      await until("group 2", () => g2.length === 400);
      expect(new Set([...g1a, ...g1b]).size).toBe(400);
      expect(g1a.length).toBeGreaterThan(0);
      expect(g1b.length).toBeGreaterThan(0);
    });

    when(features.redelivery)("resend on error: a failing handler sees the event again", async () => {
      const t = await setup();
      const attempts: number[] = [];
      await t.subscribe(t.pattern("resend"), "g", (m) => {
        attempts.push(m.attempt);
        if (attempts.length < 3) throw new Error("transient");
      }, { retryDelayMs: 50 });
      await t.publish(t.subject("resend", "x"), bytes(""));
      await until("three attempts", () => attempts.length === 3);
      expect(attempts).toEqual([1, 2, 3]);
    });

    when(features.redelivery && features.durable)("no ack -> redelivery: an event taken by an instance that dies is delivered again", async () => {
      const t = await setup();
      const crashing = await t.peer();
      let took = 0;
      // This instance takes the event and never finishes it; its connection then goes away.
      await crashing.subscribe(t.pattern("noack"), "g", () => {
        took++;
        return new Promise<void>(() => undefined);
      }, { ackWaitMs: 1000 });
      await t.publish(t.subject("noack", "x"), bytes("must arrive"));
      await until("the first delivery", () => took === 1);
      await crashing.drain().catch(() => undefined);
      const got: ConformanceMessage[] = [];
      await t.subscribe(t.pattern("noack"), "g", (m) => void got.push(m), { ackWaitMs: 1000 });
      await until("the redelivery", () => got.length === 1, 30_000);
      expect(got[0]!.attempt).toBeGreaterThanOrEqual(2);
    });

    when(features.durable)("continue after a subscriber closes: nothing lost", async () => {
      const t = await setup();
      const first: string[] = [];
      const sub = await t.subscribe(t.pattern("cont"), "g", (m) => void first.push(m.id));
      const ids: string[] = [];
      for (let i = 0; i < 50; i++) ids.push((await t.publish(t.subject("cont", "x"), bytes(String(i)))).id);
      await until("the first half", () => first.length === 50);
      await sub.stop();
      for (let i = 50; i < 100; i++) ids.push((await t.publish(t.subject("cont", "x"), bytes(String(i)))).id);
      const second: string[] = [];
      await t.subscribe(t.pattern("cont"), "g", (m) => void second.push(m.id));
      await until("the second half", () => second.length === 50);
      expect(new Set([...first, ...second])).toEqual(new Set(ids));
    });

    it("in order per key", async () => {
      const t = await setup();
      const seen = new Map<string, number[]>();
      await t.subscribe(t.pattern("order"), "g", async (m) => {
        const n = Number(text(m.data));
        await sleep(n % 3);
        const list = seen.get(m.subject) ?? [];
        list.push(n);
        seen.set(m.subject, list);
      }, { orderBySubject: true, concurrency: 4 });
      const keys = ["k1", "k2", "k3"];
      for (let i = 0; i < 60; i++) await t.publish(t.subject("order", keys[i % 3]!), bytes(String(i)));
      await until("all 60", () => [...seen.values()].reduce((a, l) => a + l.length, 0) === 60);
      keys.forEach((k, j) => expect(seen.get(t.subject("order", k))).toEqual(Array.from({ length: 20 }, (_, i) => i * 3 + j)));
    });

    it("publisher drained with many publishes in flight: none lost", async () => {
      const t = await setup();
      const publisher = await t.peer();
      const got = new Set<string>();
      await t.subscribe(t.pattern("inflight"), "g", (m) => void got.add(m.id));
      const pending = Array.from({ length: 1000 }, (_, i) => publisher.publish(t.subject("inflight", `e${i % 7}`), bytes(String(i))));
      await publisher.drain();
      const ids = (await Promise.all(pending)).map((r) => r.id);
      await until("all 1,000", () => got.size === 1000);
      expect(got).toEqual(new Set(ids));
    });

    when(features.durable)("server restarted twice mid-stream: nothing lost, nothing handled twice", async () => {
      const t = await setup();
      const handled = new Map<string, number>();
      await t.subscribe(t.pattern("restart"), "g", (m) => void handled.set(m.id, (handled.get(m.id) ?? 0) + 1), { concurrency: 4, ackWaitMs: 2000 });
      const ids: string[] = [];
      for (let round = 0; round < 3; round++) {
        const batch = await Promise.all(Array.from({ length: 300 }, (_, i) => t.publish(t.subject("restart", `r${round}`), bytes(String(i)))));
        ids.push(...batch.map((b) => b.id));
        if (round < 2) {
          await until("progress", () => handled.size >= (round + 1) * 100);
          await t.restartServer();
        }
      }
      await until("every event", () => ids.every((id) => handled.has(id)), 45_000);
      await sleep(2500);
      expect([...handled.entries()].filter(([, n]) => n > 1)).toEqual([]);
    });

    when(features.deadLetters)("dead letter after max deliveries", async () => {
      const t = await setup();
      let calls = 0;
      await t.subscribe(t.pattern("dlq"), "g", () => {
        calls++;
        throw new Error("always");
      }, { maxDeliveries: 3, retryDelayMs: 20 });
      await t.publish(t.subject("dlq", "x"), bytes("poison"));
      await until("the dead letter", async () => (await t.deadLetters()).length === 1);
      await sleep(300);
      expect(calls).toBe(3);
      expect((await t.deadLetters())[0]).toMatchObject({ subject: t.subject("dlq", "x"), deliveries: 3 });
    });

    when(features.deadLetters)("poison payload: dead-lettered at once, the next event still flows", async () => {
      const t = await setup();
      const ok: string[] = [];
      let poisonCalls = 0;
      await t.subscribe(t.pattern("poison"), "g", (m) => {
        if (text(m.data) === "poison") {
          poisonCalls++;
          throw t.nonRetryable("cannot decode");
        }
        ok.push(text(m.data));
      });
      await t.publish(t.subject("poison", "x"), bytes("poison"));
      await t.publish(t.subject("poison", "x"), bytes("fine"));
      await until("the good event", () => ok.length === 1);
      await until("the dead letter", async () => (await t.deadLetters()).length === 1);
      expect(poisonCalls).toBe(1);
    });

    when(features.redelivery)("nak delay honoured: the measured gap is at least the delay", async () => {
      const t = await setup();
      const at: number[] = [];
      await t.subscribe(t.pattern("delay"), "g", () => {
        at.push(performance.now());
        if (at.length === 1) throw new Error("later");
      }, { retryDelayMs: 500 });
      await t.publish(t.subject("delay", "x"), bytes(""));
      await until("the retry", () => at.length === 2);
      expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(500);
    });

    when(features.redelivery)("a handler running 3x the ack wait is not redelivered", async () => {
      const t = await setup();
      let calls = 0;
      let finished = false;
      await t.subscribe(t.pattern("long"), "g", async () => {
        calls++;
        await sleep(1500);
        finished = true;
      }, { ackWaitMs: 500 });
      await t.publish(t.subject("long", "x"), bytes(""));
      await until("the handler to finish", () => finished);
      await sleep(1000);
      expect(calls).toBe(1);
    });

    it("drain: running handlers finish before the transport closes", async () => {
      const t = await setup();
      const worker = await t.peer();
      let finished = 0;
      let started = 0;
      await worker.subscribe(t.pattern("drain"), "g", async () => {
        started++;
        await sleep(300);
        finished++;
      }, { concurrency: 5 });
      for (let i = 0; i < 5; i++) await t.publish(t.subject("drain", "x"), bytes(String(i)));
      await until("handlers running", () => started === 5);
      await worker.drain();
      expect(finished).toBe(5);
    });

    it("typed: EventClient publish and subscribe, with id, key and attempt", async () => {
      const t = await setup();
      const build = await t.typed("tyrt", "old");
      await build.provision();
      const got: TypedDelivery[] = [];
      await build.subscribe("a", "g", (e) => void got.push(e));
      const sent = await build.publish("a", "k1", "hello");
      await until("the typed event", () => got.length === 1);
      expect(got[0]).toEqual({ name: "a", key: "k1", payload: "hello", id: sent.id, attempt: 1 });
    });

    it("typed: subscribeAll names every event of the domain", async () => {
      const t = await setup();
      const build = await t.typed("tyall", "new");
      await build.provision();
      const got: TypedDelivery[] = [];
      await build.subscribeAll("g", (e) => void got.push(e));
      for (const name of build.events) await build.publish(name, `k-${name}`, name.toUpperCase());
      await until("one of each", () => got.length === build.events.length);
      expect(got.map((e) => [e.name, e.key, e.payload]).sort()).toEqual(build.events.map((n) => [n, `k-${n}`, n.toUpperCase()]).sort());
    });

    it("typed: two builds in one group, the newer publishing an event the older cannot name: each event handled by a build that knows it", async () => {
      const t = await setup();
      const peer = await t.peer();
      const older = await t.typed("tymix", "old");
      const newer = await peer.typed("tymix", "new");
      await older.provision();
      await newer.provision();
      const handled = new Map<string, { build: string; name: string }>();
      // Many deliveries allowed: an event the older build is handed is given back until the newer one takes it.
      const opts = { maxDeliveries: 30, retryDelayMs: 20 };
      await older.subscribeAll("g", (e) => void handled.set(e.id, { build: "old", name: e.name }), opts);
      await newer.subscribeAll("g", (e) => void handled.set(e.id, { build: "new", name: e.name }), opts);
      const sent = new Map<string, string>();
      for (let i = 0; i < 60; i++) {
        const name = newer.events[i % 3]!;
        sent.set((await newer.publish(name, `k${i % 5}`, String(i))).id, name);
      }
      await until("every event", () => [...sent.keys()].every((id) => handled.has(id)), 30_000);
      for (const [id, name] of sent) expect(handled.get(id)?.name).toBe(name);
      expect([...handled.values()].filter((h) => h.name === "c").every((h) => h.build === "new")).toBe(true);
    });

    when(features.durable && features.redelivery && features.deadLetters)(
      "typed: rolling upgrade — provisioned old, new, old again, both publishing: none refused, none acked away, every event accounted for by id",
      async () => {
        const t = await setup();
        const peer = await t.peer();
        const older = await t.typed("tyroll", "old");
        const newer = await peer.typed("tyroll", "new");
        const handled = new Map<string, { build: string; name: string }>();
        const sent = new Map<string, string>();
        const publish = async (b: TypedBuild, n: number, tag: string): Promise<void> => {
          for (let i = 0; i < n; i++) {
            const name = b.events[i % b.events.length]!;
            sent.set((await b.publish(name, `${tag}${i % 4}`, `${tag}-${i}`)).id, name);
          }
        };
        const opts = { maxDeliveries: 3, retryDelayMs: 20 };
        // 1. Only the old build runs. The new build's first replica provisions and publishes:
        //    its new event has no build in the group that knows it, so it must wait in the dead letters.
        await older.provision();
        const oldSub = await older.subscribeAll("g", (e) => void handled.set(e.id, { build: "old", name: e.name }), opts);
        await publish(older, 20, "o1");
        await newer.provision();
        await publish(newer, 30, "n1");
        const unknownIds = [...sent].filter(([, name]) => name === "c").map(([id]) => id);
        await until("the new events in the dead letters", async () => (await t.deadLetters()).filter((d) => d.reason === "unknown-event").length === unknownIds.length);
        const parked = (await t.deadLetters()).filter((d) => d.reason === "unknown-event");
        expect(parked.map((d) => d.id).sort()).toEqual([...unknownIds].sort());
        expect(parked.every((d) => d.deliveries === 3)).toBe(true);
        // 2. An old replica restarts and provisions again; the new build's replica joins the group.
        await older.provision();
        await newer.subscribeAll("g", (e) => void handled.set(e.id, { build: "new", name: e.name }), opts);
        await publish(older, 20, "o2");
        await publish(newer, 30, "n2");
        // Nothing was refused (every publish above resolved); nothing was acked away: each event is handled or parked.
        const accounted = async (): Promise<boolean> => {
          const dlq = new Set((await t.deadLetters()).map((d) => d.id));
          return [...sent.keys()].every((id) => handled.has(id) || dlq.has(id));
        };
        await until("every event handled or parked", accounted, 30_000);
        expect([...handled.values()].filter((h) => h.name === "c").every((h) => h.build === "new")).toBe(true);
        // 3. The old build is gone: replay what it could not name; the new build handles it.
        await oldSub.stop();
        expect(await t.replayDeadLetters("unknown-event")).toBeGreaterThanOrEqual(unknownIds.length);
        await until("every event handled", () => [...sent.keys()].every((id) => handled.has(id)), 30_000);
        for (const [id, name] of sent) expect(handled.get(id)?.name).toBe(name);
        expect((await t.deadLetters()).filter((d) => d.reason === "unknown-event")).toEqual([]);
      },
    );

    when(features.deadLetters)("typed: an event of another type on a subscribed subject is not acked away", async () => {
      const t = await setup();
      const build = await t.typed("tyforeign", "old");
      await build.provision();
      const got: TypedDelivery[] = [];
      await build.subscribe("a", "g", (e) => void got.push(e), { maxDeliveries: 2, retryDelayMs: 20 });
      const foreign = await t.publish(build.subjectOf("a", "k"), bytes(JSON.stringify({ key: "k", payload: "x" })), {}, "cozebus.conformance.v1.Other");
      await until("the dead letter", async () => (await t.deadLetters()).some((d) => d.id === foreign.id));
      expect((await t.deadLetters()).find((d) => d.id === foreign.id)).toMatchObject({ reason: "unknown-event", deliveries: 2 });
      expect(got).toEqual([]);
    });

    when(features.deadLetters)("typed: undecodable bytes go to the dead letters at once; the next event still flows", async () => {
      const t = await setup();
      const build = await t.typed("tybad", "old");
      await build.provision();
      const got: TypedDelivery[] = [];
      await build.subscribeAll("g", (e) => void got.push(e));
      const bad = await t.publish(build.subjectOf("a", "k"), bytes("{not json"), {}, "cozebus.conformance.v1.A");
      await build.publish("a", "k", "fine");
      await until("the good event", () => got.length === 1);
      await until("the dead letter", async () => (await t.deadLetters()).some((d) => d.id === bad.id));
      expect((await t.deadLetters()).find((d) => d.id === bad.id)).toMatchObject({ reason: "undecodable", deliveries: 1 });
    });
  });
}
