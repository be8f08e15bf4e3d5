import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import { JetStreamUnavailableError, NonRetryableError, openBus, type Bus, type JetStream } from "../src/index.js";
import { bytes, memoryLogger, provisionRaw, sleep, text, waitFor } from "./helpers.js";

/**
 * NATS_JS_API_PREFIX: account APP has no JetStream of its own and uses
 * account JSA's, imported under `JS.jsa.API`. What crosses accounts is only
 * what JSA exports: the API, acks, the event subjects, and the
 * max-deliveries advisories (see docs/operations.md).
 */
const ACCOUNTS = `
accounts {
  JSA: {
    jetstream: enabled
    users: [ { user: owner, password: owner-pw } ]
    exports: [
      { service: "$JS.API.>", response: stream }
      { service: "$JS.ACK.>" }
      { service: "coze.>" }
      { stream: "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>" }
    ]
  }
  APP: {
    users: [ { user: app, password: app-pw } ]
    imports: [
      { service: { account: JSA, subject: "$JS.API.>" }, to: "JS.jsa.API.>" }
      { service: { account: JSA, subject: "$JS.ACK.>" } }
      { service: { account: JSA, subject: "coze.>" } }
      { stream: { account: JSA, subject: "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>" } }
    ]
  }
}`;

let server: NatsServer;
let owner: JetStream;
const closers: Array<() => Promise<unknown>> = [];
beforeAll(async () => {
  server = await startNatsServer({ extraConfig: ACCOUNTS });
  const ownerBus = await openBus({ env: { NATS_SERVER_URL: server.url, NATS_USERNAME: "owner", NATS_PASSWORD: "owner-pw" }, logger: memoryLogger() });
  closers.push(() => ownerBus.close());
  owner = await ownerBus.jetstream();
  // The owning account provisions (a service in APP could too, through the prefix).
  await provisionRaw(owner, "workflow");
});
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await server?.stop();
});

async function app(env: Record<string, string>): Promise<Bus> {
  const bus = await openBus({ env: { NATS_SERVER_URL: server.url, NATS_USERNAME: "app", NATS_PASSWORD: "app-pw", ...env }, logger: memoryLogger(), onError: () => undefined });
  closers.push(() => bus.close());
  return bus;
}

describe("JetStream imported from another account, with NATS_JS_API_PREFIX", () => {
  it("publishes, consumes, dead-letters (from handlers and from advisories) and replays through the prefix", async () => {
    const bus = await app({ NATS_JS_API_PREFIX: "JS.jsa.API" });
    const js = await bus.jetstream();
    expect(js.routing).toMatchObject({ apiPrefix: "JS.jsa.API", api: { kind: "api-prefix", from: "NATS_JS_API_PREFIX" } });
    const ok = await js.publish("coze.workflow.a.started", bytes("fine"), { type: "t" });
    const poison = await js.publish("coze.workflow.b.started", bytes("poison"), { type: "t" });
    expect(ok).toMatchObject({ stream: "COZE_WORKFLOW", duplicate: false });
    expect((await owner.jsm.streams.info("COZE_WORKFLOW")).state.messages).toBe(2);

    const c = await js.consume({ stream: "COZE_WORKFLOW", group: "runner" }, (m) => {
      if (text(m.data) === "poison") throw new NonRetryableError("never works");
    });
    await waitFor("the ack and the dead letter", () => c.stats.acked === 1 && c.stats.deadLettered === 1);
    const [dead] = await js.deadLetters.list();
    expect(dead).toMatchObject({ reason: "non-retryable", sequence: poison.seq, consumer: "runner" });
    await js.deadLetters.replay(dead!.seq);
    await waitFor("the replay failing again", () => c.stats.deadLettered === 2);
    await c.stop();

    // A worker that takes an event and never acks it: the advisory reaches APP through the stream import.
    await js.jsm.consumers.add("COZE_WORKFLOW", { durable_name: "crashy", ack_policy: "explicit", ack_wait: 300 * 1e6, max_deliver: 2, filter_subject: "coze.workflow.a.started" });
    const stop = js.watchAbandoned("COZE_WORKFLOW", "crashy");
    closers.push(() => Promise.resolve(stop()));
    await bus.nats.flush();
    const raw = await js.js.consumers.get("COZE_WORKFLOW", "crashy");
    for (let i = 0; i < 3; i++) {
      for await (const _m of await raw.fetch({ max_messages: 1, expires: 1000 })) break;
      await sleep(400);
    }
    let abandoned: Awaited<ReturnType<JetStream["deadLetters"]["list"]>> = [];
    for (let i = 0; i < 100 && abandoned.length === 0; i++) {
      abandoned = await js.deadLetters.list({ reason: "abandoned" });
      if (abandoned.length === 0) await sleep(100);
    }
    expect(abandoned).toEqual([expect.objectContaining({ sequence: ok.seq, consumer: "crashy", deliveries: 2 })]);
  });

  it("without the prefix, APP has no JetStream, and the error says so", async () => {
    const bus = await app({});
    const err = await bus.jetstream().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(JetStreamUnavailableError);
    expect((err as Error).message).toMatch(/NATS_JS_API_PREFIX when it is imported from another account/);
  });

  it("a prefix nothing answers on says to check the import", async () => {
    const bus = await app({ NATS_JS_API_PREFIX: "JS.other.API" });
    await expect(bus.jetstream()).rejects.toThrow(/nothing answered on the JetStream API prefix JS\.other\.API \(NATS_JS_API_PREFIX\): check the account import/);
  });
});
