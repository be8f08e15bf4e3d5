import { describe, expect, it } from "vitest";
import { silentLogger, startNatsServer } from "@cozebus/testing";
import { openBus } from "@cozebus/nats";
import { KNOWLEDGE, cozeStudio, cozeStudioBusOptions } from "@cozebus/coze-studio";
import { runCli } from "./run-cli.js";

interface Finding {
  check: string;
  status: "ok" | "info" | "warn" | "fail" | "skip";
  detail: string;
  fix?: string;
}

/** Runs `cozebus doctor --json` and parses its findings. */
async function doctor(env: Record<string, string | undefined>, ...args: string[]): Promise<{ code: number | null; findings: Finding[]; stdout: string; stderr: string }> {
  const r = await runCli(["doctor", "--json", ...args], env);
  const findings = r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Finding);
  return { code: r.code, findings, stdout: r.stdout, stderr: r.stderr };
}

const find = (findings: readonly Finding[], check: string): Finding[] => findings.filter((f) => f.check === check);

describe("cozebus doctor", () => {
  it("a healthy server: streams missing is a warning with the fix, then all ok after streams apply", async () => {
    await using server = await startNatsServer();
    const env = { NATS_SERVER_URL: server.url };
    const before = await doctor(env, "--monitor", server.monitorUrl);
    expect(before.code, before.stdout + before.stderr).toBe(0);
    expect(find(before.findings, "connect")[0]?.status).toBe("ok");
    expect(find(before.findings, "jetstream")[0]).toMatchObject({ status: "ok" });
    const streams = find(before.findings, "stream");
    expect(streams.map((f) => f.status)).toEqual(["warn", "warn", "warn", "warn"]);
    expect(streams[0]).toMatchObject({ detail: expect.stringMatching(/COZE_WORKFLOW does not exist/), fix: "run cozebus streams apply" });
    expect(find(before.findings, "monitoring")[0]).toMatchObject({ status: "ok", detail: expect.stringMatching(/nats-server 2\.\d+\.\d+, \d+ connections/) });

    expect((await runCli(["streams", "apply"], env)).code).toBe(0);
    const after = await doctor(env);
    expect(after.code).toBe(0);
    expect(find(after.findings, "stream").map((f) => f.status)).toEqual(["ok", "ok", "ok", "ok"]);
    expect(find(after.findings, "monitoring")[0]?.status).toBe("skip");
    for (const f of after.findings.filter((x) => x.status === "warn" || x.status === "fail")) expect(f.fix, f.detail).toBeTruthy();
  });

  it("wrong credentials: the connect check fails naming the variable and the fix, never the secret", async () => {
    await using server = await startNatsServer({ auth: { users: [{ user: "svc", password: "right-password" }] } });
    const r = await doctor({ NATS_SERVER_URL: server.url, NATS_USERNAME: "svc", NATS_PASSWORD: "wrong-password" });
    expect(r.code).toBe(1);
    const connect = find(r.findings, "connect")[0];
    expect(connect).toMatchObject({ status: "fail", detail: expect.stringMatching(/rejected the connection \(user\/password\).*NATS_USERNAME\/NATS_PASSWORD/) });
    expect(connect?.fix).toMatch(/NATS_USERNAME \+ NATS_PASSWORD/);
    expect(r.stdout + r.stderr).not.toContain("wrong-password");
    expect(find(r.findings, "jetstream")).toEqual([]); // nothing checked past a failed connection
  });

  it("a server without JetStream: the jetstream check fails with how to enable it, streams are not checked", async () => {
    await using server = await startNatsServer({ jetstream: false });
    const r = await doctor({ NATS_SERVER_URL: server.url });
    expect(r.code).toBe(1);
    expect(find(r.findings, "connect")[0]?.status).toBe("ok");
    expect(find(r.findings, "jetstream")[0]).toMatchObject({ status: "fail", detail: expect.stringMatching(/JetStream is not available/), fix: expect.stringMatching(/-js .*NATS_USE_JETSTREAM=false/) });
    expect(find(r.findings, "stream")).toEqual([]);
  });

  it("an unreachable server and a bad variable fail with their fixes", async () => {
    const down = await doctor({ NATS_SERVER_URL: "nats://127.0.0.1:1" });
    expect(down.code).toBe(1);
    expect(find(down.findings, "connect")[0]).toMatchObject({ status: "fail", fix: expect.stringMatching(/NATS_SERVER_URL/) });
    const bad = await doctor({ NATS_SERVER_URL: "nats://127.0.0.1:1", NATS_STREAM_REPLICAS: "abc" });
    expect(bad.code).toBe(1);
    expect(bad.findings).toEqual([expect.objectContaining({ check: "config", status: "fail", detail: expect.stringMatching(/NATS_STREAM_REPLICAS/) })]);
  });

  it("a stream whose storage differs from the schemas fails; replicas without a cluster fail; dead letters warn", async () => {
    await using server = await startNatsServer();
    const bus = await openBus({ servers: server.url, env: {}, logger: silentLogger });
    try {
      const js = await bus.jetstream();
      await js.ensureStream(js.domainStream("agent", ["coze.agent.*.published"], { storage: "memory", maxBytes: 1024 ** 2 }));
      await js.ensureStream(js.deadLetterStream());
      await js.publish("coze.dlq.test", new Uint8Array([1]), { type: "test" });
    } finally {
      await bus.close();
    }
    const r = await doctor({ NATS_SERVER_URL: server.url });
    expect(r.code).toBe(1);
    const agent = find(r.findings, "stream").find((f) => f.detail.startsWith("COZE_AGENT"));
    expect(agent).toMatchObject({ status: "fail", detail: expect.stringMatching(/storage is memory on the server but file is wanted/), fix: expect.stringMatching(/cannot change in place/) });
    expect(find(r.findings, "dead-letters")[0]).toMatchObject({ status: "warn", detail: "1 events in COZE_DLQ", fix: expect.stringMatching(/cozebus dlq list/) });

    const replicated = await doctor({ NATS_SERVER_URL: server.url, NATS_STREAM_REPLICAS: "3" });
    expect(find(replicated.findings, "jetstream")).toContainEqual(expect.objectContaining({ status: "fail", detail: "NATS_STREAM_REPLICAS=3 but this server is not part of a cluster" }));
  });

  it("the server check says which newer features are used and, on older servers, what cozebus falls back to", async () => {
    await using server = await startNatsServer();
    const r = await doctor({ NATS_SERVER_URL: server.url });
    const [used, lacking] = [find(r.findings, "server").filter((f) => f.status === "ok"), find(r.findings, "server").filter((f) => f.status === "warn")];
    expect(used).toHaveLength(1);
    const version = /nats-server (\d+\.\d+\.\d+)/.exec(used[0]!.detail)?.[1] ?? "";
    const [major, minor] = version.split(".").map(Number) as [number, number];
    if (major === 2 && minor < 12) {
      expect(lacking[0]).toMatchObject({ detail: expect.stringMatching(/msg-schedules \(since 2\.12\.0\): publish with deliverAt is refused/), fix: expect.stringMatching(/upgrade nats-server to 2\.12\.0 or later/) });
      if (minor < 11) expect(lacking[0]!.detail).toMatch(/term-reason \(since 2\.11\.0\): plain term\(\)/);
    } else {
      expect(used[0]!.detail).toMatch(/uses: term-reason \(dead letters end with term\(reason\)/);
      expect(lacking).toEqual([]);
    }
    expect(r.stdout).not.toMatch(/works around each/);
  });
});

describe("cozebus doctor and Coze Studio on NATS JetStream", () => {
  it("finds Coze's stream by itself and names where the group's consumer differs from what nats.go creates", async () => {
    await using server = await startNatsServer({ jetstream: true });
    const env = { COZE_MQ_TYPE: "nats", NATS_USE_JETSTREAM: "true", MQ_NAME_SERVER: server.url, NATS_SERVER_URL: server.url };
    const plain = await doctor(env);
    expect(find(plain.findings, "coze-studio")).toEqual([]);
    // A cozebus consumer of cg_knowledge creates Coze's stream (Go's exact settings) and the durable (with cozebus's max_deliver).
    const bus = await openBus(cozeStudioBusOptions({ env, logger: silentLogger, onError: () => undefined }));
    const coze = cozeStudio(bus, { env, onError: () => undefined });
    const consumer = await coze.registerConsumer(KNOWLEDGE, () => undefined);
    try {
      const r = await doctor(env);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const findings = find(r.findings, "coze-studio");
      const by = (prefix: string): Finding | undefined => findings.find((f) => f.detail.startsWith(prefix));
      expect(by("stream opencoze_knowledge_STREAM:")).toMatchObject({ status: "ok", detail: expect.stringMatching(/exactly the config Coze's Go code creates/) });
      expect(by("consumer opencoze_knowledge_STREAM/cg_knowledge:")).toMatchObject({ status: "info", detail: expect.stringMatching(/max_deliver 5 \(Go's default: unlimited\), set by cozebus/) });
      expect(by("stream opencoze_search_app_STREAM:")?.detail).toMatch(/missing/);
      expect(r.findings.at(-1)!.check).toBe("transport");
    } finally {
      await consumer.stop();
      await bus.close();
    }
  });
});
