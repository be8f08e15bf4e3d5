import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import { JetStreamUnavailableError, StreamConfigError, openBus, type Bus, type JetStream } from "../src/index.js";
import { memoryLogger } from "./helpers.js";

let server: NatsServer;
let bus: Bus;
let js: JetStream;

beforeAll(async () => {
  server = await startNatsServer();
  bus = await openBus({ servers: server.url, env: {}, logger: memoryLogger() });
  js = await bus.jetstream();
});
afterAll(async () => {
  await bus?.close();
  await server?.stop();
});

describe("stream provisioning", () => {
  it("names streams per domain and prefix", () => {
    expect(js.domainStream("workflow")).toMatchObject({ name: "COZE_WORKFLOW", subjects: ["coze.workflow.>"], replicas: 1 });
    expect(js.deadLetterStream()).toMatchObject({ name: "COZE_DLQ", subjects: ["coze.dlq.>"] });
    expect(() => js.domainStream("Work.Flow")).toThrow(StreamConfigError);
  });

  it("creates once, then reports unchanged: idempotent", async () => {
    const first = await js.provision(["workflow", "agent"]);
    expect(first.map((r) => [r.stream, r.action])).toEqual([
      ["COZE_WORKFLOW", "created"],
      ["COZE_AGENT", "created"],
      ["COZE_DLQ", "created"],
    ]);
    const again = await js.provision(["workflow", "agent"]);
    expect(again.every((r) => r.action === "unchanged")).toBe(true);
  });

  it("applies explicit limits that never drop unconsumed events silently", async () => {
    await js.ensureStream(js.domainStream("knowledge"));
    const info = await js.jsm.streams.info("COZE_KNOWLEDGE");
    expect(info.config.retention).toBe("limits");
    expect(info.config.discard).toBe("new");
    expect(info.config.storage).toBe("file");
    expect(info.config.max_age).toBe(7 * 24 * 3600 * 1e9);
    expect(info.config.max_bytes).toBe(1024 ** 3);
    expect(info.config.duplicate_window).toBe(120 * 1e9);
  });

  it("updates what may change in place and lists it", async () => {
    await js.ensureStream(js.domainStream("billing"));
    const r = await js.ensureStream(js.domainStream("billing", { maxAgeMs: 3_600_000, maxMsgs: 1000 }));
    expect(r.action).toBe("updated");
    expect(r.changed.join("; ")).toMatch(/max_age: .* -> 3600000000000/);
    expect(r.changed.join("; ")).toMatch(/max_msgs: -1 -> 1000/);
    expect((await js.jsm.streams.info("COZE_BILLING")).config.max_msgs).toBe(1000);
  });

  it("checks a stream against its spec without changing it", async () => {
    expect(await js.checkStream(js.domainStream("audit"))).toEqual({ stream: "COZE_AUDIT", status: "missing" });
    await expect(js.jsm.streams.info("COZE_AUDIT")).rejects.toThrow(); // checking created nothing
    await js.ensureStream(js.domainStream("audit"));
    expect((await js.checkStream(js.domainStream("audit"))).status).toBe("matches");
    const check = await js.checkStream(js.domainStream("audit", { maxMsgs: 10, storage: "memory" }));
    expect(check.status).toBe("differs");
    if (check.status !== "differs") return;
    expect(check.drift.updatable).toEqual(["max_msgs: -1 -> 10"]);
    expect(check.drift.fixed).toEqual(["storage is file on the server but memory is wanted"]);
    expect((await js.jsm.streams.info("COZE_AUDIT")).config.max_msgs).toBe(-1); // still unchanged
  });

  it("refuses, with the reason, what cannot change in place (storage)", async () => {
    await js.ensureStream(js.domainStream("memo"));
    const err = await js.ensureStream(js.domainStream("memo", { storage: "memory" })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamConfigError);
    expect((err as Error).message).toMatch(/storage is file on the server but memory is wanted.*cannot change in place/);
  });

  it("explains replicas a single server cannot have", async () => {
    const spec = { ...js.domainStream("replicated"), replicas: 3 };
    const err = await js.ensureStream(spec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamConfigError);
    expect((err as Error).message).toMatch(/NATS_STREAM_REPLICAS/);
  });

  it("explains a size the server cannot reserve", async () => {
    const err = await js.ensureStream(js.domainStream("huge", { maxBytes: 64 * 1024 ** 3 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamConfigError);
    expect((err as Error).message).toMatch(/cannot reserve 68719476736 bytes.*lower maxBytes or raise the server's max_file_store/);
  });

  it("explains a memory size the server cannot reserve", async () => {
    const err = await js.ensureStream(js.domainStream("hot", { storage: "memory", maxBytes: 64 * 1024 ** 3 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamConfigError);
    expect((err as Error).message).toMatch(/cannot reserve 68719476736 bytes.*raise the server's max_memory_store/);
  });

  it("explains overlapping subjects", async () => {
    const clash = { ...js.domainStream("workflow"), name: "OTHER_WORKFLOW" };
    const err = await js.ensureStream(clash).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamConfigError);
    expect((err as Error).message).toMatch(/overlap/);
  });

  it("takes the replica count from NATS_STREAM_REPLICAS", async () => {
    const b = await openBus({ servers: server.url, env: { NATS_STREAM_REPLICAS: "3" }, logger: memoryLogger() });
    try {
      expect((await b.jetstream()).domainStream("workflow").replicas).toBe(3);
    } finally {
      await b.close();
    }
  });
});

describe("without JetStream", () => {
  it("is a JetStreamUnavailableError that says how to enable it", async () => {
    const plain = await startNatsServer({ jetstream: false });
    const b = await openBus({ servers: plain.url, env: {}, logger: memoryLogger() });
    try {
      const err = await b.jetstream().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(JetStreamUnavailableError);
      expect((err as Error).message).toMatch(/-js/);
    } finally {
      await b.close();
      await plain.stop();
    }
  });
});
