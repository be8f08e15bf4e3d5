import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import { JetStreamUnavailableError, StreamConfigError, openBus, provisionedBy, type Bus, type JetStream, type StreamLimits, type StreamSpec } from "../src/index.js";
import { bytes, memoryLogger } from "./helpers.js";

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

/** A raw domain stream over everything under `coze.<domain>.` (the typed layer derives exact subjects instead). */
const spec = (domain: string, limits?: Partial<StreamLimits>): StreamSpec => js.domainStream(domain, [`coze.${domain}.>`], limits);

describe("stream provisioning", () => {
  it("names streams per domain and prefix", () => {
    expect(js.domainStream("workflow", ["coze.workflow.*.started"])).toMatchObject({ name: "COZE_WORKFLOW", subjects: ["coze.workflow.*.started"], replicas: 1 });
    expect(js.domainStreamName("workflow")).toBe("COZE_WORKFLOW");
    expect(js.deadLetterStream()).toMatchObject({ name: "COZE_DLQ", subjects: ["coze.dlq.>"] });
    expect(() => js.domainStream("Work.Flow", ["x"])).toThrow(StreamConfigError);
    expect(() => js.domainStream("empty", [])).toThrow(/at least one subject/);
  });

  it("refuses a stream subject that would capture a request/reply subject", () => {
    expect(() => js.domainStream("workflow", ["coze.workflow.>"], {}, ["coze.workflow.*.get_status"])).toThrow(/would capture request\/reply subjects \(coze.workflow.\*.get_status\)/);
    expect(js.domainStream("workflow", ["coze.workflow.*.started"], {}, ["coze.workflow.*.get_status"]).excludes).toEqual(["coze.workflow.*.get_status"]);
  });

  it("creates once, then reports unchanged: idempotent", async () => {
    const first = [await js.ensureStream(spec("workflow")), await js.ensureStream(spec("agent")), await js.ensureStream(js.deadLetterStream())];
    expect(first.map((r) => [r.stream, r.action])).toEqual([
      ["COZE_WORKFLOW", "created"],
      ["COZE_AGENT", "created"],
      ["COZE_DLQ", "created"],
    ]);
    const again = [await js.ensureStream(spec("workflow")), await js.ensureStream(spec("agent"))];
    expect(again.map((r) => r.action)).toEqual(["unchanged", "unchanged"]);
  });

  it("applies explicit limits that never drop unconsumed events silently", async () => {
    await js.ensureStream(spec("knowledge"));
    const info = await js.jsm.streams.info("COZE_KNOWLEDGE");
    expect(info.config.retention).toBe("limits");
    expect(info.config.discard).toBe("new");
    expect(info.config.storage).toBe("file");
    expect(info.config.max_age).toBe(7 * 24 * 3600 * 1e9);
    expect(info.config.max_bytes).toBe(1024 ** 3);
    expect(info.config.duplicate_window).toBe(120 * 1e9);
  });

  it("additive: adds the subjects a build needs and keeps those another build publishes on", async () => {
    const older = js.domainStream("roll", ["coze.roll.*.a", "coze.roll.*.b"]);
    const newer = js.domainStream("roll", ["coze.roll.*.a", "coze.roll.*.b", "coze.roll.*.c"]);
    await js.ensureStream(older);
    const up = await js.ensureStream(newer);
    expect(up).toMatchObject({ action: "updated", changed: ["subjects: + coze.roll.*.c"], conflicts: [] });
    // The older build provisions again (a replica restarts): the newer build's subject stays.
    const back = await js.ensureStream(older);
    expect(back.action).toBe("unchanged");
    expect((await js.jsm.streams.info("COZE_ROLL")).config.subjects).toEqual(["coze.roll.*.a", "coze.roll.*.b", "coze.roll.*.c"]);
    const ack = await js.publish("coze.roll.x.c", bytes("newer event"), { type: "t" });
    expect(ack.stream).toBe("COZE_ROLL");
  });

  it("additive: a subject another stream subject already captures is not added again", async () => {
    await js.ensureStream(spec("wide"));
    const r = await js.ensureStream(js.domainStream("wide", ["coze.wide.*.started"]));
    expect(r.action).toBe("unchanged");
    expect((await js.jsm.streams.info("COZE_WIDE")).config.subjects).toEqual(["coze.wide.>"]);
  });

  it("additive: raises a limit a build needs higher, never lowers one another build set, and reports it", async () => {
    await js.ensureStream(spec("billing", { maxAgeMs: 3_600_000, maxMsgs: 1000 }));
    const up = await js.ensureStream(spec("billing", { maxAgeMs: 7_200_000, maxMsgs: 500 }));
    expect(up.action).toBe("updated");
    expect(up.changed).toEqual(["max_age: 3600000000000 -> 7200000000000"]);
    expect(up.conflicts.join("; ")).toMatch(/max_msgs is 1000 on the server, this build wants 500: kept/);
    const info = (await js.jsm.streams.info("COZE_BILLING")).config;
    expect(info.max_age).toBe(7_200_000 * 1e6);
    expect(info.max_msgs).toBe(1000);
    // -1 is "unlimited": the most permissive value, never lowered to a number.
    await js.ensureStream(spec("billing", { maxMsgs: -1 }));
    const kept = await js.ensureStream(spec("billing", { maxMsgs: 10 }));
    expect(kept.conflicts.join("; ")).toMatch(/max_msgs is -1 on the server/);
    expect((await js.jsm.streams.info("COZE_BILLING")).config.max_msgs).toBe(-1);
  });

  it("additive: never changes the discard policy; reports the difference", async () => {
    await js.ensureStream(spec("disc"));
    const r = await js.ensureStream(spec("disc", { discard: "old" }));
    expect(r.action).toBe("unchanged");
    expect(r.conflicts.join("; ")).toMatch(/discard is new on the server, this build wants old: kept/);
    expect((await js.jsm.streams.info("COZE_DISC")).config.discard).toBe("new");
  });

  it("reports a stream subject that captures request/reply subjects", async () => {
    await js.ensureStream(spec("legacy"));
    const wanted = js.domainStream("legacy", ["coze.legacy.*.started"], {}, ["coze.legacy.*.get_status"]);
    const r = await js.ensureStream(wanted);
    expect(r.conflicts.join("; ")).toMatch(/subject coze.legacy.> also captures request\/reply subjects \(coze.legacy.\*.get_status\).*prune/);
    const plan = await js.pruneStream(wanted);
    expect(plan.changes).toEqual([expect.objectContaining({ change: "subjects: - coze.legacy.>", reason: expect.stringMatching(/captures request\/reply subjects/) as unknown })]);
  });

  it("prune lists what no subject of the build needs, with why, and changes nothing without apply", async () => {
    await js.ensureStream(js.domainStream("pr", ["coze.pr.*.a", "coze.pr.*.gone"], { maxMsgs: 1000 }));
    await js.publish("coze.pr.x.gone", bytes("old event"), { type: "t" });
    await js.publish("coze.pr.y.gone", bytes("old event"), { type: "t" });
    const current = js.domainStream("pr", ["coze.pr.*.a"], { maxMsgs: 100 });
    const plan = await js.pruneStream(current, { build: "@cozebus/pr@2.0.0" });
    expect(plan.applied).toBe(false);
    expect(plan.changes).toEqual([
      { change: "subjects: - coze.pr.*.gone", reason: expect.stringMatching(/no event of @cozebus\/pr@2.0.0 is published on it; 2 stored event\(s\) stay/) as unknown },
      { change: "max_msgs: 1000 -> 100", reason: expect.stringMatching(/more permissive/) as unknown },
    ]);
    expect((await js.jsm.streams.info("COZE_PR")).config.subjects).toEqual(["coze.pr.*.a", "coze.pr.*.gone"]);
    const done = await js.pruneStream(current, { apply: true });
    expect(done.applied).toBe(true);
    const after = await js.jsm.streams.info("COZE_PR");
    expect(after.config.subjects).toEqual(["coze.pr.*.a"]);
    expect(after.config.max_msgs).toBe(100);
    expect(after.state.messages).toBe(2); // stored events are never deleted by prune
    expect((await js.pruneStream(current)).empty).toBe(true);
  });

  it("records which builds provisioned a stream in its metadata (servers with metadata)", async () => {
    const s = js.domainStream("meta", ["coze.meta.*.a"]);
    await js.ensureStream(s, { build: "@cozebus/meta@1.0.0" });
    await js.ensureStream(s, { build: "@cozebus/meta@1.1.0" });
    const again = await js.ensureStream(s, { build: "@cozebus/meta@1.1.0" });
    const config = (await js.jsm.streams.info("COZE_META")).config;
    if (bus.server.supports("stream-metadata")) {
      expect(again.action).toBe("unchanged");
      expect(provisionedBy(config).map((b) => b.build)).toEqual(["@cozebus/meta@1.0.0", "@cozebus/meta@1.1.0"]);
      // Pruning from the older build would remove what the newer one publishes: refused unless forced.
      const plan = await js.pruneStream(js.domainStream("meta", ["coze.meta.*.a"], { maxMsgs: 5 }), { build: "@cozebus/meta@1.0.0" });
      expect(plan.newerBuilds).toEqual(["@cozebus/meta@1.1.0"]);
      await expect(js.pruneStream(js.domainStream("meta", ["coze.meta.*.a"], { maxMsgs: 5 }), { build: "@cozebus/meta@1.0.0", apply: true })).rejects.toThrow(/newer builds provisioned it \(@cozebus\/meta@1.1.0\)/);
    } else {
      // nats-server < 2.10 keeps no metadata: provisioning works and records nothing.
      expect(again.action).toBe("unchanged");
      expect(provisionedBy(config)).toEqual([]);
    }
  });

  it("checks a stream against its spec without changing it", async () => {
    expect(await js.checkStream(spec("audit"))).toEqual({ stream: "COZE_AUDIT", status: "missing" });
    await expect(js.jsm.streams.info("COZE_AUDIT")).rejects.toThrow(); // checking created nothing
    await js.ensureStream(spec("audit"));
    expect((await js.checkStream(spec("audit"))).status).toBe("matches");
    const check = await js.checkStream(spec("audit", { maxMsgs: 10, storage: "memory" }));
    expect(check.status).toBe("differs");
    if (check.status !== "differs") return;
    expect(check.drift.raise).toEqual([]);
    expect(check.drift.conflicts.join("; ")).toMatch(/max_msgs is -1 on the server, this build wants 10/);
    expect(check.drift.fixed).toEqual(["storage is file on the server but memory is wanted"]);
    expect((await js.jsm.streams.info("COZE_AUDIT")).config.max_msgs).toBe(-1); // still unchanged
  });

  it("refuses, with the reason, what cannot change in place (storage)", async () => {
    await js.ensureStream(spec("memo"));
    const err = await js.ensureStream(spec("memo", { storage: "memory" })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamConfigError);
    expect((err as Error).message).toMatch(/storage is file on the server but memory is wanted.*cannot change in place/);
  });

  it("explains replicas a single server cannot have", async () => {
    const s = { ...spec("replicated"), replicas: 3 };
    const err = await js.ensureStream(s).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamConfigError);
    expect((err as Error).message).toMatch(/NATS_STREAM_REPLICAS/);
  });

  it("explains a size the server cannot reserve", async () => {
    const err = await js.ensureStream(spec("huge", { maxBytes: 64 * 1024 ** 3 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamConfigError);
    expect((err as Error).message).toMatch(/cannot reserve 68719476736 bytes.*lower maxBytes or raise the server's max_file_store/);
  });

  it("explains a memory size the server cannot reserve", async () => {
    const err = await js.ensureStream(spec("hot", { storage: "memory", maxBytes: 64 * 1024 ** 3 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamConfigError);
    expect((err as Error).message).toMatch(/cannot reserve 68719476736 bytes.*raise the server's max_memory_store/);
  });

  it("explains overlapping subjects", async () => {
    const clash = { ...spec("workflow"), name: "OTHER_WORKFLOW" };
    const err = await js.ensureStream(clash).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamConfigError);
    expect((err as Error).message).toMatch(/overlap/);
  });

  it("takes the replica count from NATS_STREAM_REPLICAS", async () => {
    const b = await openBus({ servers: server.url, env: { NATS_STREAM_REPLICAS: "3" }, logger: memoryLogger() });
    try {
      expect((await b.jetstream()).domainStream("workflow", ["coze.workflow.>"]).replicas).toBe(3);
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
