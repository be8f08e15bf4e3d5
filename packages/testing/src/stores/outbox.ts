/**
 * The transactional outbox and relay cases every SQL store passes, on a
 * real database server the harness starts and a real nats-server (JetStream)
 * this suite starts: exactly once per committed event with the ce-id fixed
 * at enqueue time as Nats-Msg-Id, nothing for a rolled-back transaction, a
 * relay killed between publish and mark, several relays at once, a broker
 * that refuses, and what a row keeps of an event. A case needing a
 * feature the harness does not declare is skipped, with why in its name.
 *
 *   import { describeOutboxConformance } from "@cozebus/testing/stores";
 *   describeOutboxConformance("postgres", harness);
 */
import { spawn } from "node:child_process";
import { isCozebusError } from "@cozebus/core";
import type { OutboxRelay, RelayOptions } from "@cozebus/core/outbox";
import type { OutgoingEvent, Receipt, Transport } from "@cozebus/core/transport";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "../server.js";
import { sleep, waitFor } from "../wait.js";
import type { OutboxFeatures, OutboxHarness, StoreDatabase, StoreSuiteBus, StoreSuiteJetStream } from "./harness.js";
import { countOf } from "./sql.js";
import { deleteWorkflowStream, ensureWorkflowStream, resetWorkflowStream, streamMessages, workflowEvent as event } from "./stream.js";

const FEATURE_WORDS: Record<keyof OutboxFeatures, string> = { wakesOnCommit: "no wake-up on commit (an idle relay waits for its poll)" };

export function describeOutboxConformance<Pool, Tx>(name: string, h: OutboxHarness<Pool, Tx>): void {
  const why = (f: keyof OutboxFeatures): string => h.why?.[f] ?? `${name} has ${FEATURE_WORDS[f]}`;
  /** A case needing these features: run, or skipped with the reason in its name. */
  const test = (title: string, needs: ReadonlyArray<keyof OutboxFeatures>, fn: () => Promise<void>): void => {
    const missing = needs.filter((f) => !h.features[f]);
    if (missing.length === 0) it(title, fn);
    else it.skip(`${title} — skipped: ${missing.map(why).join("; ")}`, fn);
  };

  describe(`outbox conformance: ${name}`, () => {
    let db: StoreDatabase;
    let nats: NatsServer;
    let pool: Pool;
    let bus: StoreSuiteBus;
    let js: StoreSuiteJetStream;
    let transport: Transport;
    const outbox = h.outbox();
    const relays: OutboxRelay[] = [];

    const relay = (options: Partial<RelayOptions> = {}): OutboxRelay => {
      const r = h.relay(pool, { transport, pollIntervalMs: 50, ...options });
      relays.push(r);
      return r;
    };
    const unsent = (): Promise<number> => countOf(h, pool, "SELECT COUNT(*) AS n FROM cozebus_outbox WHERE sent_at IS NULL");
    const stored = () => streamMessages(js);

    beforeAll(async () => {
      [db, nats] = await Promise.all([h.startDatabase(), startNatsServer()]);
      pool = h.pool(db.url, 10);
      await h.migrate(pool);
      bus = await h.bus(nats.url);
      js = await bus.jetstream();
      transport = bus.transport;
    });
    afterEach(async () => {
      await Promise.all(relays.splice(0).map((r) => r.stop()));
      await h.query(pool, "TRUNCATE cozebus_outbox");
    });
    afterAll(async () => {
      await bus?.close();
      if (pool !== undefined) await h.end(pool);
      await Promise.all([db?.stop(), nats?.stop()]);
    });

    it("committed events are published exactly once, in order per key, with the ce-id fixed at enqueue time as Nats-Msg-Id; headers and bytes kept", async () => {
      await resetWorkflowStream(js);
      const ids: string[] = [];
      for (let n = 0; n < 30; n++) {
        await h.withTransaction(pool, async (tx) => {
          await h.query(tx, "SELECT 1"); // the service's own writes would be here
          ids.push((await outbox.enqueue(tx, event(`wf${n % 3}`, n))).id);
        });
      }
      const published: Receipt[] = [];
      const r = relay({ onPublished: (rc) => published.push(rc) });
      await waitFor("30 events published", async () => (await unsent()) === 0);
      await r.stop();
      const msgs = await stored();
      expect(msgs).toHaveLength(30);
      expect(msgs.map((m) => m.id).sort()).toEqual([...ids].sort());
      for (const m of msgs) {
        expect(m.msgId).toBe(m.id);
        expect(m.data.split(":")[1]).toBe(m.n);
      }
      expect(published.every((p) => p.duplicate === false)).toBe(true);
      // Per key (workflow), the stream holds the events in the order they were enqueued.
      for (const wf of ["wf0", "wf1", "wf2"]) {
        const ns = msgs.filter((m) => m.data.startsWith(`${wf}:`)).map((m) => Number(m.data.split(":")[1]));
        expect(ns).toHaveLength(10);
        expect(ns).toEqual([...ns].sort((a, b) => a - b));
      }
      expect(await relay().flush()).toBe(0); // nothing left: not published twice
    });

    it("a rolled-back transaction publishes nothing; enqueue refuses a pool (it would write outside the transaction)", async () => {
      await resetWorkflowStream(js);
      await expect(
        h.withTransaction(pool, async (tx) => {
          await outbox.enqueue(tx, event("wfrb", 1));
          throw new Error("the service's write failed");
        }),
      ).rejects.toThrow("the service's write failed");
      const kept = await h.withTransaction(pool, (tx) => outbox.enqueue(tx, event("wfrb", 2)));
      const refused = await outbox
        .enqueue(pool as unknown as Tx, event("wfrb", 3))
        .catch((e: unknown) => e);
      expect(isCozebusError(refused, "CONFIG_INVALID")).toBe(true);
      expect((refused as Error).message).toMatch(/not the pool/);
      relay();
      await waitFor("the committed event published", async () => (await stored()).length === 1);
      await sleep(300);
      expect((await stored()).map((m) => m.id)).toEqual([kept.id]);
      expect(await countOf(h, pool, "SELECT COUNT(*) AS n FROM cozebus_outbox")).toBe(1);
    });

    it("a relay killed between publish and mark: the next relay publishes again with the same ce-id, and JetStream drops the copy", async () => {
      await resetWorkflowStream(js);
      const one = await h.withTransaction(pool, (tx) => outbox.enqueue(tx, event("wfcrash", 1)));
      const child = spawn(process.execPath, [h.scripts.crash, db.url, nats.url], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (c: Buffer) => (out += c.toString()));
      child.stderr.on("data", (c: Buffer) => (out += c.toString()));
      const exited = new Promise((r) => child.once("exit", r));
      try {
        await waitFor("the crashing relay to publish", () => out.includes(`published ${one.id}`), 30_000);
      } finally {
        child.kill("SIGKILL");
        await exited;
      }
      expect((await stored()).map((m) => m.id)).toEqual([one.id]);
      expect(await countOf(h, pool, "SELECT COUNT(*) AS n FROM cozebus_outbox WHERE event_id = ? AND sent_at IS NULL", [one.id])).toBe(1);
      const published: Receipt[] = [];
      const r = relay({ onPublished: (rc) => published.push(rc) });
      // The killed relay's connection held the row lock until the server noticed the dead socket: at once for a killed process.
      await waitFor("the row marked sent", async () => (await countOf(h, pool, "SELECT COUNT(*) AS n FROM cozebus_outbox WHERE sent_at IS NOT NULL")) === 1, 30_000);
      await r.stop();
      expect(published).toHaveLength(1);
      expect(published[0]).toMatchObject({ id: one.id, duplicate: true });
      const msgs = await stored();
      expect(msgs).toHaveLength(1);
      expect(msgs[0]).toMatchObject({ id: one.id, msgId: one.id });
    });

    it("several relays at once: every row published once, order per key kept", async () => {
      await resetWorkflowStream(js);
      const keys = ["a", "b", "c", "d", "e"];
      await h.withTransaction(pool, (tx) =>
        outbox.enqueueMany(
          tx,
          Array.from({ length: 200 }, (_, n) => event(`wf${keys[n % 5]!}`, n)),
        ),
      );
      const published: Receipt[] = [];
      for (let i = 0; i < 3; i++) relay({ batchSize: 17, onPublished: (rc) => published.push(rc) });
      await waitFor("200 published", async () => (await unsent()) === 0, 30_000);
      expect(published).toHaveLength(200);
      expect(published.filter((p) => p.duplicate)).toEqual([]);
      const msgs = await stored();
      expect(msgs).toHaveLength(200);
      for (const k of keys) {
        const ns = msgs.filter((m) => m.data.startsWith(`wf${k}:`)).map((m) => Number(m.data.split(":")[1]));
        expect(ns).toHaveLength(40);
        expect(ns).toEqual([...ns].sort((a, b) => a - b));
      }
      expect(relays.reduce((sum, r) => sum + r.stats.published, 0)).toBe(200);
    });

    it("a deleted stream: rows stay unsent, the relay reports and backs off, never out of order; once the stream is back they go out", async () => {
      await deleteWorkflowStream(js);
      await h.withTransaction(pool, (tx) => outbox.enqueueMany(tx, [event("wfd", 1), event("wfd", 2)]));
      const errors: Error[] = [];
      const r = relay({ onError: (e) => errors.push(e), backoff: { initialMs: 100, maxMs: 200 } });
      await waitFor("a reported failure", () => errors.length > 0);
      expect(errors[0]!.message).toMatch(/was not published .*no JetStream stream captures/);
      const attempts = async (): Promise<Array<{ attempts: number; sent: boolean }>> =>
        (await h.query(pool, "SELECT attempts, sent_at FROM cozebus_outbox ORDER BY seq")).map((row) => ({ attempts: Number(row["attempts"]), sent: row["sent_at"] !== null }));
      // The relay reports, then records the attempt on the row: wait for the record rather than race it.
      await waitFor("the failed attempt recorded", async () => ((await attempts())[0]?.attempts ?? 0) >= 1);
      const now = await attempts();
      expect(now.every((row) => !row.sent)).toBe(true);
      expect(now[1]!.attempts).toBe(0); // held back behind the first of its key, never tried out of order
      await ensureWorkflowStream(js);
      await waitFor("both published", async () => (await unsent()) === 0, 30_000);
      await r.stop();
      expect((await stored()).map((m) => m.data)).toEqual(["wfd:1", "wfd:2"]);
    });

    it("a key longer than any index allows (5,000 characters), and deliverAt / ttl survive the row", async () => {
      await resetWorkflowStream(js);
      const longKey = "k".repeat(5000);
      const at = new Date(Date.now() + 1);
      await h.withTransaction(pool, (tx) => outbox.enqueue(tx, { ...event("wflong", 1), ttlMs: 60_000, deliverAt: at }, { key: longKey }));
      const seen: OutgoingEvent[] = [];
      // Records what the relay rebuilt from the row; publishes it without deliverAt and ttl (those need a stream
      // provisioned with schedules and per-message TTL, which is not what this test is about).
      const spy: Transport = Object.assign(Object.create(transport) as Transport, {
        publish: (e: OutgoingEvent) => {
          seen.push(e);
          const { deliverAt: _at, ttlMs: _ttl, ...now } = e;
          return transport.publish(now);
        },
      });
      relay({ transport: spy });
      await waitFor("published", async () => (await unsent()) === 0, 10_000);
      expect(seen).toHaveLength(1);
      expect(seen[0]!.deliverAt?.getTime()).toBe(at.getTime());
      expect(seen[0]!.ttlMs).toBe(60_000);
      const rows = await h.query(pool, "SELECT ordering_key FROM cozebus_outbox");
      expect(rows[0]!["ordering_key"]).toBe(longKey);
    });

    test("a commit wakes an idle relay long before its poll interval", ["wakesOnCommit"], async () => {
      await resetWorkflowStream(js);
      const r = relay({ pollIntervalMs: 60_000 });
      await r.flush();
      await sleep(200); // the relay is now waiting on its poll timer (60 s) or a wake-up
      await h.withTransaction(pool, (tx) => outbox.enqueue(tx, event("wfn", 1)));
      await waitFor("published on the wake-up", async () => (await stored()).length === 1, 10_000);
    });
  });
}
