import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsCluster, type NatsCluster } from "@cozebus/testing";
import { openBus, type Bus, type JetStream } from "../src/index.js";
import { bytes, memoryLogger, provisionRaw, waitFor } from "./helpers.js";

let cluster: NatsCluster;
let bus: Bus;
let js: JetStream;

beforeAll(async () => {
  cluster = await startNatsCluster();
  bus = await openBus({
    servers: cluster.urls.join(","),
    env: { NATS_STREAM_REPLICAS: "3" },
    logger: memoryLogger(),
    onError: () => undefined,
    reconnect: { waitMs: 100, jitterMs: 50 },
  });
  js = await bus.jetstream({ ackTimeoutMs: 1000 });
  // Right after start the meta leader may still be settling: retry provisioning briefly.
  for (let i = 0; ; i++) {
    try {
      await provisionRaw(js, "workflow");
      break;
    } catch (err) {
      if (i > 50) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
});
afterAll(async () => {
  await bus?.close();
  await cluster?.stop();
});

describe("JetStream on a 3-node cluster", () => {
  it("provisions streams with NATS_STREAM_REPLICAS replicas", async () => {
    const info = await js.jsm.streams.info("COZE_WORKFLOW");
    expect(info.config.num_replicas).toBe(3);
    expect(info.cluster?.replicas?.length).toBe(2);
  });

  it("killing the stream leader mid-publish loses nothing and stores nothing twice, and consumers carry on", async () => {
    const handled = new Map<string, number>();
    await js.consume({ stream: "COZE_WORKFLOW", group: "failover" }, (m) => void handled.set(m.event!.id, (handled.get(m.event!.id) ?? 0) + 1), {
      concurrency: 4,
      retry: { ackWaitMs: 3000 },
    });
    const leader = (await js.jsm.streams.info("COZE_WORKFLOW")).cluster?.leader;
    const victim = cluster.servers.find((s) => s.serverName === leader)!;
    expect(victim).toBeDefined();
    const n = 1500;
    const pending: Array<Promise<{ id: string }>> = [];
    for (let i = 0; i < n; i++) {
      pending.push(js.publish(`coze.workflow.wf${i % 10}.started`, bytes(String(i)), { type: "t" }));
      if (i === 500) await victim.kill("SIGKILL");
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    const results = await Promise.allSettled(pending);
    expect(results.filter((r) => r.status === "rejected").map((r) => String((r).reason))).toEqual([]);
    const ids = results.map((r) => (r as PromiseFulfilledResult<{ id: string }>).value.id);
    let stored = 0;
    for (let i = 0; i < 100 && stored !== n; i++) {
      stored = await js.jsm.streams.info("COZE_WORKFLOW").then((s) => s.state.messages, () => -1);
      if (stored !== n) await new Promise((r) => setTimeout(r, 200));
    }
    expect(stored).toBe(n);
    await waitFor("every event handled", () => ids.every((id) => handled.has(id)), 60_000);
    expect([...handled.values()].filter((c) => c > 1)).toEqual([]);
    await victim.start();
  });
});
