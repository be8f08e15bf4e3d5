import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger, startNatsServer, waitFor, type NatsServer } from "@cozebus/testing";
import { openBus, type Bus } from "@cozebus/nats";
import { MessageRole, PublishChannel, agent, type AgentEvent, type MessageCreated } from "../src/index.js";

const quiet = silentLogger;
const until = (what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> => waitFor(what, check, ms);

let server: NatsServer;
let bus: Bus;
let ag: ReturnType<typeof agent>;

beforeAll(async () => {
  server = await startNatsServer();
  bus = await openBus({ servers: server.url, env: {}, logger: quiet, onError: () => undefined });
  ag = agent(bus);
  await ag.provision();
});
afterAll(async () => {
  await bus?.close();
  await server?.stop();
});

const MAX_I64 = 9_223_372_036_854_775_807n;
const at = new Date("2026-11-22T08:30:00.000Z");

describe("@cozebus/agent", () => {
  it("every event of the domain arrives with all fields intact", async () => {
    const got = new Map<string, unknown>();
    const sub = await ag.subscribeAll((e: AgentEvent) => void got.set(e.type, e.event), { group: "all" });
    const samples = {
      created: { agentId: MAX_I64, spaceId: "s", name: "助手", description: "", creatorId: "u1", createdAt: at },
      updated: { agentId: 1n, spaceId: "s", name: "n", description: "d", changedFields: ["persona", "model"], updatedAt: at },
      published: { agentId: 2n, spaceId: "s", version: "1.0.0", channels: [PublishChannel.PUBLISH_CHANNEL_API, PublishChannel.PUBLISH_CHANNEL_STORE], publisherId: "u", publishedAt: at },
      deleted: { agentId: 3n, spaceId: "s", operatorId: "u", deletedAt: at },
      runStarted: { agentId: 4n, conversationId: 5n, runId: 6n, userId: "u", startedAt: at },
      runCompleted: { agentId: 4n, conversationId: 5n, runId: 6n, usage: { inputTokens: 10n, outputTokens: 20n }, durationMs: 1234n },
      runFailed: { agentId: 4n, conversationId: 5n, runId: 7n, errorCode: -1, errorMessage: "model timeout" },
      messageCreated: { agentId: 4n, conversationId: 5n, messageId: 8n, role: MessageRole.MESSAGE_ROLE_ASSISTANT, content: "🚀 done", metadata: { k: "v" } },
    };
    await ag.created.publish(samples.created);
    await ag.updated.publish(samples.updated);
    await ag.published.publish(samples.published);
    await ag.deleted.publish(samples.deleted);
    await ag.runStarted.publish(samples.runStarted);
    await ag.runCompleted.publish(samples.runCompleted);
    await ag.runFailed.publish(samples.runFailed);
    await ag.messageCreated.publish(samples.messageCreated);
    await until("all eight events", () => got.size === 8);
    for (const [name, sample] of Object.entries(samples)) expect(got.get(name), name).toEqual(sample);
    await sub.stop();
  });

  it("messageCreated round-trips arbitrary values: unicode, 64-bit extremes, empty and large maps", async () => {
    const received: MessageCreated[] = [];
    const sub = await ag.messageCreated.subscribe((e) => void received.push(e), { group: "prop" });
    const i64 = fc.bigInt({ min: 0n, max: MAX_I64 });
    const samples = fc.sample(
      fc.record({
        agentId: i64,
        conversationId: fc.bigInt({ min: -(2n ** 63n), max: MAX_I64 }),
        messageId: i64,
        role: fc.constantFrom(MessageRole.MESSAGE_ROLE_USER, MessageRole.MESSAGE_ROLE_ASSISTANT, MessageRole.MESSAGE_ROLE_TOOL),
        content: fc.string({ unit: "grapheme", maxLength: 200 }),
        metadata: fc.dictionary(fc.string({ unit: "grapheme", maxLength: 10 }), fc.string({ unit: "grapheme", maxLength: 30 }), { maxKeys: 50 }),
      }),
      { numRuns: 40, seed: 20261122 },
    );
    for (const s of samples) await ag.messageCreated.publish(s);
    await until("every sample", () => received.length === samples.length);
    expect(received).toEqual(samples);
    await sub.stop();
  });

  it("runTurn: typed request/reply", async () => {
    const svc = await ag.runTurn.serve((req) => ({ runId: 99n, content: `echo: ${req.content} (${req.variables["lang"] ?? "?"})`, usage: { inputTokens: 3n, outputTokens: 4n } }));
    const reply = await ag.runTurn.request({ agentId: 7n, conversationId: 1n, userId: "u", content: "你好", variables: { lang: "zh" } });
    expect(reply).toEqual({ runId: 99n, content: "echo: 你好 (zh)", usage: { inputTokens: 3n, outputTokens: 4n } });
    await svc.stop();
  });
});
