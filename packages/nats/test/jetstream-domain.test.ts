import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { startNatsServer, type NatsServer, type NatsServerOptions } from "@cozebus/testing";
import { JetStreamUnavailableError, NonRetryableError, connect, openBus, type Bus, type JetStream } from "../src/index.js";
import { bytes, memoryLogger, provisionRaw, sleep, text, waitFor } from "./helpers.js";

/**
 * JetStream in domain `hub` on a hub server; a service connected to a leaf
 * node of it, with NATS_JS_DOMAIN=hub. The leaf either has no JetStream or
 * its own (domain `leaf`): in both cases the service must provision,
 * publish, consume and dead-letter on the hub, and only there.
 */
describe.each<[string, NatsServerOptions]>([
  ["a leaf without JetStream", { jetstream: false }],
  ["a leaf with its own JetStream domain", { jetstreamDomain: "leaf" }],
])("through a leaf node to JetStream domain hub: %s", (_label, leafOptions) => {
  let hub: NatsServer;
  let leaf: NatsServer;
  /** A plain nats.js view of the hub's own JetStream, to check where things landed. */
  let onHub: JetStreamManager;
  const closers: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    hub = await startNatsServer({ jetstreamDomain: "hub", leafnodeListen: true });
    leaf = await startNatsServer({ ...leafOptions, leafRemotes: [hub.leafnodeUrl!] });
    const nc = await natsConnect({ servers: hub.url });
    closers.push(() => nc.close());
    onHub = await jetstreamManager(nc);
  });
  afterAll(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await leaf?.stop();
    await hub?.stop();
  });

  async function service(env: Record<string, string>): Promise<{ bus: Bus; errors: Error[] }> {
    const errors: Error[] = [];
    const bus = await openBus({ env: { NATS_SERVER_URL: leaf.url, ...env }, logger: memoryLogger(), onError: (e) => void errors.push(e) });
    closers.push(() => bus.close());
    return { bus, errors };
  }

  it("provisions, publishes, consumes, dead-letters and replays on the hub", async () => {
    const { bus } = await service({ NATS_JS_DOMAIN: "hub" });
    expect(bus.jetstreamApi).toEqual({ kind: "domain", domain: "hub", from: "NATS_JS_DOMAIN" });
    const js = await bus.jetstream();
    expect(js.routing.apiPrefix).toBe("$JS.hub.API");
    expect((await js.jsm.getAccountInfo()).domain).toBe("hub");
    await provisionRaw(js, "workflow");
    expect((await onHub.streams.info("COZE_WORKFLOW")).config.subjects).toEqual(["coze.workflow.>"]);
    expect((await onHub.streams.info("COZE_DLQ")).config.subjects).toEqual(["coze.dlq.>"]);

    const ok = await js.publish("coze.workflow.wf1.started", bytes("fine"), { type: "t" });
    const poison = await js.publish("coze.workflow.wf2.started", bytes("poison"), { type: "t" });
    expect(ok).toMatchObject({ stream: "COZE_WORKFLOW", seq: 1, duplicate: false });
    expect((await onHub.streams.info("COZE_WORKFLOW")).state.messages).toBe(2);

    const attempts: number[] = [];
    const c = await js.consume({ stream: "COZE_WORKFLOW", group: "runner" }, (m) => {
      attempts.push(m.delivery.sequence);
      if (text(m.data) === "poison") throw new NonRetryableError("never works");
    });
    await waitFor("the ack and the dead letter", () => c.stats.acked === 1 && c.stats.deadLettered === 1);
    // The consumer lives on the hub, and its acks reached it through the leaf.
    let state = await onHub.consumers.info("COZE_WORKFLOW", "runner");
    for (let i = 0; i < 50 && state.num_ack_pending !== 0; i++) {
      await sleep(20);
      state = await onHub.consumers.info("COZE_WORKFLOW", "runner");
    }
    expect(state.num_ack_pending).toBe(0);
    expect(state.num_pending).toBe(0);

    const [dead] = await js.deadLetters.list();
    expect(dead).toMatchObject({ reason: "non-retryable", stream: "COZE_WORKFLOW", sequence: poison.seq, consumer: "runner", error: "never works" });
    expect((await onHub.streams.info("COZE_DLQ")).state.messages).toBe(1);
    await js.deadLetters.replay(dead!.seq);
    await waitFor("the replayed event handled (and dead-lettered) again", () => c.stats.deadLettered === 2);
    expect(attempts.filter((s) => s !== ok.seq)).toHaveLength(2);
    await c.stop();
  });

  it("dead-letters an event whose handler never returned, from the hub's max-deliveries advisory crossing the leaf", async () => {
    const { bus } = await service({ NATS_JS_DOMAIN: "hub" });
    const js = await bus.jetstream();
    await provisionRaw(js, "agent");
    await js.jsm.consumers.add("COZE_AGENT", { durable_name: "crashy", ack_policy: "explicit", ack_wait: 300 * 1e6, max_deliver: 2 });
    const stop = js.watchAbandoned("COZE_AGENT", "crashy");
    closers.push(() => Promise.resolve(stop()));
    await bus.nats.flush(); // the advisory interest is registered (and crosses to the hub)
    const sent = await js.publish("coze.agent.a1.published", bytes("lost?"), { type: "t" });
    const raw = await js.js.consumers.get("COZE_AGENT", "crashy");
    // Two deliveries taken and never acked; the third pull makes the hub notice max_deliver and advise.
    const acks: string[] = [];
    for (let i = 0; i < 3; i++) {
      for await (const m of await raw.fetch({ max_messages: 1, expires: 1000 })) {
        acks.push(`${m.info.domain}|${m.info.stream}|${m.info.deliveryCount}`);
        break; // taken, never acked: the worker "died"
      }
      await sleep(400);
    }
    expect(acks).toEqual(["|COZE_AGENT|1", "|COZE_AGENT|2"]); // no domain in the (9-token) ack subject, even here
    let entries: Awaited<ReturnType<JetStream["deadLetters"]["list"]>> = [];
    for (let i = 0; i < 100 && entries.length === 0; i++) {
      entries = await js.deadLetters.list({ stream: "COZE_AGENT" });
      if (entries.length === 0) await sleep(100);
    }
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ reason: "abandoned", stream: "COZE_AGENT", sequence: sent.seq, consumer: "crashy", deliveries: 2 });
  });

  it.runIf(leafOptions.jetstreamDomain !== undefined)("ignores the advisory of a same-named stream and consumer in the leaf's own domain", async () => {
    // On the leaf's own JetStream: COZE_KNOWLEDGE (other subjects), consumer crashy, 3 deliveries.
    const leafNc = await natsConnect({ servers: leaf.url });
    closers.push(() => leafNc.close());
    const leafJsm = await jetstreamManager(leafNc);
    expect((await leafJsm.getAccountInfo()).domain).toBe("leaf");
    await leafJsm.streams.add({ name: "COZE_KNOWLEDGE", subjects: ["leafonly.knowledge.>"], storage: "memory" });
    await leafJsm.consumers.add("COZE_KNOWLEDGE", { durable_name: "crashy", ack_policy: "explicit", ack_wait: 300 * 1e6, max_deliver: 3 });
    await leafJsm.jetstream().publish("leafonly.knowledge.k1", bytes("leaf event"));
    const advisories: Array<{ domain?: string; deliveries: number }> = [];
    const observer = leafNc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.COZE_KNOWLEDGE.crashy", { callback: (_e, m) => void advisories.push(m.json()) });
    closers.push(() => Promise.resolve(observer.unsubscribe()));

    // On the hub, through the domain: the same names, 2 deliveries, watched.
    const { bus } = await service({ NATS_JS_DOMAIN: "hub" });
    const js = await bus.jetstream();
    await provisionRaw(js, "knowledge");
    await js.jsm.consumers.add("COZE_KNOWLEDGE", { durable_name: "crashy", ack_policy: "explicit", ack_wait: 300 * 1e6, max_deliver: 2 });
    const stop = js.watchAbandoned("COZE_KNOWLEDGE", "crashy");
    closers.push(() => Promise.resolve(stop()));
    await bus.nats.flush();
    await leafNc.flush();
    const sent = await js.publish("coze.knowledge.k1.indexed", bytes("hub event"), { type: "t" });

    const starve = async (jsm: JetStreamManager, pulls: number): Promise<void> => {
      const consumer = await jsm.jetstream().consumers.get("COZE_KNOWLEDGE", "crashy");
      for (let i = 0; i < pulls; i++) {
        for await (const _m of await consumer.fetch({ max_messages: 1, expires: 1000 })) break;
        await sleep(400);
      }
    };
    // The leaf's advisory first: it reaches the hub-bound watcher too (same subject, same server), which must skip it.
    await starve(leafJsm, 4);
    await waitFor("the leaf's own advisory", () => advisories.length === 1);
    expect(advisories[0]).toMatchObject({ domain: "leaf", deliveries: 3 });
    await starve(js.jsm, 3);
    let entries: Awaited<ReturnType<JetStream["deadLetters"]["list"]>> = [];
    for (let i = 0; i < 100 && entries.length === 0; i++) {
      entries = await js.deadLetters.list({ stream: "COZE_KNOWLEDGE" });
      if (entries.length === 0) await sleep(100);
    }
    // Had the leaf's advisory been taken, this entry would say 3 deliveries (the first write wins the DLQ's dedupe).
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ reason: "abandoned", sequence: sent.seq, consumer: "crashy", deliveries: 2 });
    expect(text(entries[0]!.data)).toBe("hub event");
  });

  it("connect() with a different JetStream domain than the shared bus is refused, not silently shared", async () => {
    const shared = await connect({ env: { NATS_SERVER_URL: leaf.url, NATS_JS_DOMAIN: "hub" }, name: "shared-domain-test", logger: memoryLogger() });
    closers.push(() => shared.close());
    await expect(connect({ env: { NATS_SERVER_URL: leaf.url }, name: "shared-domain-test", logger: memoryLogger() })).rejects.toThrow(/inbox prefix or JetStream domain; call openBus\(\)/);
    expect(await connect({ env: { NATS_SERVER_URL: leaf.url, NATS_JS_DOMAIN: "hub" }, name: "shared-domain-test", logger: memoryLogger() })).toBe(shared);
  });

  it("a domain nobody serves is a JetStreamUnavailableError that says what to check", async () => {
    const { bus } = await service({ NATS_JS_DOMAIN: "nowhere" });
    await expect(bus.jetstream()).rejects.toThrow(JetStreamUnavailableError);
    await expect(bus.jetstream()).rejects.toThrow(/no JetStream answered in domain "nowhere" \(NATS_JS_DOMAIN; API \$JS\.nowhere\.API\): check .*jetstream \{ domain: \.\.\. \}/);
  });
});

describe("through a leaf node without JetStream, with no domain set", () => {
  let hub: NatsServer;
  let leaf: NatsServer;
  beforeAll(async () => {
    hub = await startNatsServer({ jetstreamDomain: "hub", leafnodeListen: true });
    leaf = await startNatsServer({ jetstream: false, leafRemotes: [hub.leafnodeUrl!] });
  });
  afterAll(async () => {
    await leaf?.stop();
    await hub?.stop();
  });

  it("JetStream is unavailable, and the error points at NATS_JS_DOMAIN", async () => {
    const bus = await openBus({ env: { NATS_SERVER_URL: leaf.url }, logger: memoryLogger() });
    try {
      const err = await bus.jetstream().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(JetStreamUnavailableError);
      expect((err as Error).message).toMatch(/set NATS_JS_DOMAIN when JetStream runs in another domain \(behind a leaf node\)/);
    } finally {
      await bus.close();
    }
  });
});
