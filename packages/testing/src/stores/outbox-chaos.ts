/**
 * Chaos, outbox: transactions that write a row and enqueue an event, a third
 * of them rolled back, while the relay (a child process) is SIGKILLed twice
 * and the nats-server once. Afterwards the stream holds every committed event
 * exactly once (message count and the set of ce-ids) and no rolled-back one;
 * the outbox table holds no rolled-back row either.
 *
 * Shortened in `npm test` (1,000 transactions); COZEBUS_CHAOS_FULL=1 runs 10,000.
 *
 *   import { describeOutboxChaos } from "@cozebus/testing/stores";
 *   describeOutboxChaos("postgres", harness);
 */
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "../server.js";
import { sleep, waitFor } from "../wait.js";
import type { OutboxHarness, StoreDatabase, StoreSuiteBus, StoreSuiteJetStream } from "./harness.js";
import { countOf } from "./sql.js";
import { ensureWorkflowStream, streamMessages, workflowEvent } from "./stream.js";

interface RelayChild {
  child: ChildProcess;
  exited: Promise<void>;
  /** SIGKILL as soon as the next "published" line arrives: that publish returns 5 ms after it, so the kill most likely lands before the batch's mark. */
  killOnNextPublish(): Promise<void>;
}

export function describeOutboxChaos<Pool, Tx>(name: string, h: OutboxHarness<Pool, Tx>): void {
  const FULL = process.env["COZEBUS_CHAOS_FULL"] === "1";
  const N = FULL ? 10_000 : 1_000;

  describe(`outbox chaos: ${name}`, () => {
    let db: StoreDatabase;
    let nats: NatsServer;
    let pool: Pool;
    let bus: StoreSuiteBus;
    let js: StoreSuiteJetStream;
    const children: ChildProcess[] = [];
    const published: Array<{ id: string; duplicate: boolean; relay: number }> = [];

    beforeAll(async () => {
      [db, nats] = await Promise.all([h.startDatabase(), startNatsServer()]);
      pool = h.pool(db.url, 10);
      await h.migrate(pool);
      await h.query(pool, "CREATE TABLE chaos_writes (n INT PRIMARY KEY)");
      bus = await h.bus(nats.url);
      js = await bus.jetstream();
      await ensureWorkflowStream(js);
    });
    afterAll(async () => {
      for (const c of children) c.kill("SIGKILL");
      await bus?.close().catch(() => undefined);
      if (pool !== undefined) await h.end(pool);
      await Promise.all([db?.stop(), nats?.stop()]);
    });

    async function startRelay(): Promise<RelayChild> {
      const relay = children.length + 1;
      const child = spawn(process.execPath, [h.scripts.chaos, db.url, nats.url], { stdio: ["ignore", "pipe", "pipe"] });
      children.push(child);
      let buf = "";
      let ready = false;
      let killNext: (() => void) | undefined;
      child.stdout.on("data", (chunk: Buffer) => {
        buf += chunk.toString();
        const lines = buf.split("\n");
        buf = lines.pop()!;
        for (const line of lines) {
          const [kind, id, dup] = line.split(" ");
          if (kind === "ready") ready = true;
          else if (kind === "published" && id) {
            published.push({ id, duplicate: dup === "true", relay });
            if (killNext) {
              child.kill("SIGKILL");
              killNext();
              killNext = undefined;
            }
          }
        }
      });
      child.stderr.on("data", (chunk: Buffer) => process.stderr.write(chunk));
      const exited = new Promise<void>((resolve) => child.stdout.once("close", () => resolve()));
      await waitFor(`relay ${relay} ready`, () => ready, 30_000);
      const killOnNextPublish = async (): Promise<void> => {
        await new Promise<void>((resolve) => (killNext = resolve));
        await exited;
      };
      return { child, exited, killOnNextPublish };
    }

    const sentRows = (): Promise<number> => countOf(h, pool, "SELECT COUNT(*) AS n FROM cozebus_outbox WHERE sent_at IS NOT NULL");

    it(`${N} transactions, a third rolled back, the relay SIGKILLed twice and the nats-server once: every committed event stored exactly once, no rolled-back one`, { timeout: FULL ? 600_000 : 120_000 }, async () => {
      const t0 = Date.now();
      const outbox = h.outbox();
      const committed = new Set<string>();
      const rolledBack = new Set<string>();
      const rollback = new Error("the service's write failed");

      let relay = await startRelay();
      const producing = (async () => {
        for (let n = 0; n < N; n++) {
          let id = "";
          try {
            await h.withTransaction(pool, async (tx) => {
              await h.query(tx, "INSERT INTO chaos_writes VALUES (?)", [n]);
              id = (await outbox.enqueue(tx, workflowEvent(`wf${n % 53}`, n), { key: `wf${n % 53}` })).id;
              if (n % 3 === 0) throw rollback;
            });
            committed.add(id);
          } catch (err) {
            if (err !== rollback) throw err;
            rolledBack.add(id);
          }
          if (n % 10 === 9) await sleep(80); // a service's pace (about 100 transactions a second), so the kills land mid-stream
        }
      })();

      const target = Math.ceil((N * 2) / 3);
      const kills: string[] = [];
      const at = async (fraction: number): Promise<number> => {
        await waitFor(`${fraction * 100}% sent`, async () => (await sentRows()) >= target * fraction, FULL ? 300_000 : 60_000);
        return sentRows();
      };
      /** Kills the relay right after it reports a publish: most likely mid-batch, published and not yet marked sent. */
      const killRelayMidBatch = async (fraction: number): Promise<number> => {
        await at(fraction);
        await relay.killOnNextPublish();
        return sentRows();
      };
      let sent = await killRelayMidBatch(0.2);
      await relay.exited;
      kills.push(`relay SIGKILL #1 after ${sent} rows sent (+${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      relay = await startRelay();
      sent = await at(0.45);
      await nats.kill("SIGKILL");
      kills.push(`nats-server SIGKILL after ${sent} rows sent (+${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      await sleep(500);
      await nats.start();
      sent = await killRelayMidBatch(0.7);
      await relay.exited;
      kills.push(`relay SIGKILL #2 after ${sent} rows sent (+${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      relay = await startRelay();

      await producing;
      await waitFor("every committed row sent", async () => (await sentRows()) === committed.size, FULL ? 300_000 : 60_000);
      relay.child.kill("SIGKILL");
      await relay.exited;

      const msgs = await streamMessages(js);
      const storedIds = new Set(msgs.map((m) => m.id));
      const missing = [...committed].filter((id) => !storedIds.has(id));
      const rolledBackStored = msgs.filter((m) => rolledBack.has(m.id)).map((m) => m.id);
      const unknown = msgs.filter((m) => !committed.has(m.id) && !rolledBack.has(m.id));
      // Every row's id, checked here rather than in SQL: a list parameter is written differently in each dialect.
      const rowIds = (await h.query(pool, "SELECT event_id FROM cozebus_outbox")).map((r) => String(r["event_id"]));
      const rolledBackRows = rowIds.filter((id) => rolledBack.has(id)).length;
      const writes = await countOf(h, pool, "SELECT COUNT(*) AS n FROM chaos_writes");
      const rePublished = published.filter((p) => p.duplicate).length;
      const publishCounts = new Map<string, number>();
      for (const p of published) publishCounts.set(p.id, (publishCounts.get(p.id) ?? 0) + 1);

      console.log(
        [
          `${name} outbox chaos (${FULL ? "full" : "shortened"}): ${N} transactions, ${committed.size} committed, ${rolledBack.size} rolled back, ${((Date.now() - t0) / 1000).toFixed(1)} s, ${children.length} relay processes`,
          ...kills.map((k) => `  ${k}`),
          `  relays' publish acks: ${published.length}; ids published again by the next relay after a kill mid-batch: ${[...publishCounts.values()].filter((c) => c > 1).length}; acks JetStream flagged duplicate (dropped by Nats-Msg-Id = ce-id; includes client retries across the server kill): ${rePublished}`,
          `  stream: ${msgs.length} messages, ${storedIds.size} distinct ce-ids; committed missing: ${missing.length}; rolled back stored: ${rolledBackStored.length}; rolled-back outbox rows: ${rolledBackRows}; unknown: ${unknown.length}`,
        ].join("\n"),
      );

      expect(writes).toBe(committed.size);
      expect(msgs.length).toBe(committed.size);
      expect(storedIds).toEqual(committed);
      for (const m of msgs) expect(m.msgId).toBe(m.id);
      expect(rolledBackStored).toEqual([]);
      expect(rolledBackRows).toBe(0);
      expect(unknown).toEqual([]);
      // A row published again after a relay kill was dropped by JetStream as a duplicate, never stored twice.
      const seen = new Set<string>();
      const storedAgain = published.filter((p) => (seen.has(p.id) ? !p.duplicate : (seen.add(p.id), false)));
      expect(storedAgain).toEqual([]);
    });
  });
}
