import { isCozebusError, openBus, resolveConfig } from "@cozebus/nats";
import { startNatsServer, silentLogger } from "@cozebus/testing";
import { describe, expect, it } from "vitest";
import {
  KNOWLEDGE,
  KNOWN_DIFFERENCES,
  checkCozeStudioEnv,
  cozeStudio,
  cozeStudioBusOptions,
  durableOf,
  isCozeStudioError,
  modeFromEnv,
  queueGroupOf,
  streamNameOf,
  streamSpecOf,
  subjectOf,
} from "../src/index.js";

describe("names (Coze's impl/nats)", () => {
  it("subject = topic, stream = topic with dots as underscores + _STREAM, queue group = durable = group", () => {
    expect(subjectOf("opencoze_knowledge")).toBe("opencoze_knowledge");
    expect(streamNameOf("opencoze_knowledge")).toBe("opencoze_knowledge_STREAM");
    expect(streamNameOf("a.b.c")).toBe("a_b_c_STREAM");
    expect(queueGroupOf("cg_knowledge")).toBe("cg_knowledge");
    expect(durableOf("cg_knowledge")).toBe("cg_knowledge");
    expect(streamSpecOf("opencoze_search_app")).toMatchObject({ name: "opencoze_search_app_STREAM", subjects: ["opencoze_search_app"], replicas: 1 });
  });

  it.each([["a b"], ["a.*"], ["a.>"], [""], ["a..b"], ["a/b"]])("refuses topic %j with a NameError", (topic) => {
    expect(() => streamNameOf(topic)).toThrow(expect.objectContaining({ code: "COZE_NAME_INVALID", kind: "topic" }));
  });

  it.each([["cg.knowledge"], ["cg knowledge"], [""], ["*"]])("refuses group %j with a NameError", (group) => {
    expect(() => durableOf(group)).toThrow(expect.objectContaining({ code: "COZE_NAME_INVALID", kind: "group" }));
  });
});

describe("the environment, read as Coze's Go code reads it", () => {
  it("JetStream only for the exact string true", () => {
    expect(modeFromEnv({ NATS_USE_JETSTREAM: "true" })).toBe("jetstream");
    expect(modeFromEnv({})).toBe("core");
    expect(modeFromEnv({ NATS_USE_JETSTREAM: "" })).toBe("core");
    expect(modeFromEnv({ NATS_USE_JETSTREAM: "false" })).toBe("core");
  });

  it.each([["1"], ["TRUE"], ["yes"], [" true"]])("refuses NATS_USE_JETSTREAM=%j, which Go reads as core", (value) => {
    let err: unknown;
    try {
      modeFromEnv({ NATS_USE_JETSTREAM: value });
    } catch (e) {
      err = e;
    }
    expect(isCozebusError(err, "CONFIG_INVALID")).toBe(true);
    expect((err as { variable: string }).variable).toBe("NATS_USE_JETSTREAM");
    expect((err as Error).message).toMatch(/only for the exact string "true"/);
  });

  it("joins MQ_NAME_SERVER (Coze's address) even when NATS_SERVER_URL names another", () => {
    const options = cozeStudioBusOptions({ env: { MQ_NAME_SERVER: "nats-a:4222", NATS_SERVER_URL: "nats://nats-b:4222", NATS_USE_JETSTREAM: "true" } });
    const config = resolveConfig(options);
    expect(config.servers).toEqual(["nats://nats-a:4222"]);
    expect(config.useJetStream).toBe(true);
    expect(resolveConfig(cozeStudioBusOptions({ env: { NATS_SERVER_URL: "nats://nats-b:4222" } })).servers).toEqual(["nats://nats-b:4222"]);
  });

  it("a bad MQ_NAME_SERVER is a ConfigError naming it", () => {
    expect(() => resolveConfig(cozeStudioBusOptions({ env: { MQ_NAME_SERVER: "http://x:1" } }))).toThrow(expect.objectContaining({ code: "CONFIG_INVALID", variable: "MQ_NAME_SERVER" }));
  });

  it("refuses COZE_MQ_TYPE other than nats: there is no NATS bus to join", () => {
    expect(() => cozeStudioBusOptions({ env: { COZE_MQ_TYPE: "pulsar" } })).toThrow(expect.objectContaining({ code: "CONFIG_INVALID", variable: "COZE_MQ_TYPE" }));
  });

  it("connects to a host:port MQ_NAME_SERVER as Coze's .env writes it", async () => {
    const server = await startNatsServer({ jetstream: false });
    try {
      const bus = await openBus(cozeStudioBusOptions({ env: { MQ_NAME_SERVER: `127.0.0.1:${server.port}` }, logger: silentLogger }));
      expect(bus.connected).toBe(true);
      await bus.drain();
    } finally {
      await server.stop();
    }
  });

  it("checkCozeStudioEnv says what the two sides would disagree on", () => {
    const checks = checkCozeStudioEnv({ COZE_MQ_TYPE: "nats", NATS_USE_JETSTREAM: "1", MQ_NAME_SERVER: "nats:4222", NATS_SERVER_URL: "nats://other:4222", NATS_STREAM_REPLICAS: "3" });
    expect(checks).toEqual([
      { status: "ok", subject: "env COZE_MQ_TYPE", message: "nats" },
      { status: "fail", subject: "env NATS_USE_JETSTREAM", message: expect.stringMatching(/exact string "true"/) },
      { status: "warn", subject: "env MQ_NAME_SERVER", message: expect.stringMatching(/NATS_SERVER_URL is nats:\/\/other:4222: Coze's Go code never reads NATS_SERVER_URL/) },
      { status: "info", subject: "env NATS_STREAM_REPLICAS", message: expect.stringMatching(/never reads it/) },
    ]);
    expect(checkCozeStudioEnv({ COZE_MQ_TYPE: "nats", MQ_NAME_SERVER: "nats:4222", NATS_SERVER_URL: "nats://nats:4222" }).every((c) => c.status === "ok")).toBe(true);
    expect(checkCozeStudioEnv({}).map((c) => c.status)).toEqual(["warn", "ok", "warn"]);
  });

  it("lists every deliberate difference with Go's behaviour, cozebus's and why", () => {
    expect(KNOWN_DIFFERENCES.length).toBeGreaterThan(5);
    for (const d of KNOWN_DIFFERENCES) for (const v of [d.what, d.go, d.cozebus, d.why]) expect(v.length).toBeGreaterThan(5);
  });
});

describe("bad arguments", () => {
  it("refuses bad handlers, retry settings, sharding keys and bodies before touching the server", async () => {
    const server = await startNatsServer({ jetstream: false });
    try {
      const bus = await openBus({ servers: server.url, logger: silentLogger });
      const coze = cozeStudio(bus, { mode: "core" });
      await expect(coze.registerConsumer(KNOWLEDGE, undefined as never)).rejects.toThrow(/the handler must be a function/);
      await expect(coze.registerConsumer("opencoze_knowledge", "cg x", () => undefined)).rejects.toThrow(expect.objectContaining({ code: "COZE_NAME_INVALID" }));
      await expect(coze.registerConsumer(KNOWLEDGE, () => undefined, { retry: { maxDeliveries: 0 } })).rejects.toThrow(expect.objectContaining({ code: "CONFIG_INVALID", variable: "retry.maxDeliveries" }));
      await expect(coze.registerConsumer(KNOWLEDGE, () => undefined, { retry: { backoff: { jitter: 2 } } })).rejects.toThrow(expect.objectContaining({ variable: "retry.backoff.jitter" }));
      const p = await coze.producer(KNOWLEDGE);
      await expect(p.send({ type: "index_document" }, { shardingKey: "a\nb" })).rejects.toThrow(expect.objectContaining({ code: "COZE_NAME_INVALID", kind: "sharding key" }));
      await expect(p.send({ type: "nope" as never })).rejects.toSatisfy((e) => isCozeStudioError(e, "COZE_PAYLOAD_INVALID"));
      const raw = await coze.producer("opencoze_knowledge");
      await expect(raw.send(42 as never)).rejects.toThrow(/must be a Uint8Array or a string, got number/);
      await bus.drain();
    } finally {
      await server.stop();
    }
  });

  it("refuses retry settings in JetStream mode before creating anything (0 would mean unlimited on the server)", async () => {
    const server = await startNatsServer({ jetstream: true });
    try {
      const bus = await openBus({ servers: server.url, logger: silentLogger });
      const coze = cozeStudio(bus, { mode: "jetstream" });
      await expect(coze.registerConsumer(KNOWLEDGE, () => undefined, { retry: { ackWaitMs: 5 } })).rejects.toThrow(expect.objectContaining({ variable: "retry.ackWaitMs" }));
      const js = await bus.jetstream();
      await expect(js.jsm.consumers.info("opencoze_knowledge_STREAM", "cg_knowledge")).rejects.toThrow(/consumer not found/);
      await bus.drain();
    } finally {
      await server.stop();
    }
  });
});

describe("COZE_MQ_TYPE picks the transport as Go's impl/eventbus.go does", () => {
  it("nats (or unset) and pulsar, exactly; nsq/kafka/rmq and other spellings are refused", async () => {
    const { mqTypeFromEnv } = await import("../src/index.js");
    expect(mqTypeFromEnv({})).toBe("nats");
    expect(mqTypeFromEnv({ COZE_MQ_TYPE: "nats" })).toBe("nats");
    expect(mqTypeFromEnv({ COZE_MQ_TYPE: "pulsar" })).toBe("pulsar");
    for (const v of ["Pulsar", "PULSAR", "nsq", "kafka", "rmq"]) {
      expect(() => mqTypeFromEnv({ COZE_MQ_TYPE: v })).toThrow(expect.objectContaining({ code: "CONFIG_INVALID", variable: "COZE_MQ_TYPE" }));
    }
    expect(() => cozeStudioBusOptions({ env: { COZE_MQ_TYPE: "pulsar" } })).toThrow(/cozeStudioPulsar/);
  });
});
