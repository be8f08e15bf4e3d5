import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import { runCli } from "./run-cli.js";

/** The CLI with NATS_JS_DOMAIN / NATS_JS_API_PREFIX / NATS_INBOX_PREFIX: doctor shows them, commands honour them. */

interface Finding {
  check: string;
  status: "ok" | "warn" | "fail" | "skip";
  detail: string;
  fix?: string;
}

async function doctor(env: Record<string, string | undefined>): Promise<{ code: number | null; findings: Finding[]; out: string }> {
  const r = await runCli(["doctor", "--json"], env);
  return { code: r.code, findings: r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Finding), out: r.stdout + r.stderr };
}

const one = (findings: readonly Finding[], check: string): Finding | undefined => findings.find((f) => f.check === check);

describe("a leaf node in front of JetStream domain hub", () => {
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

  it("doctor shows the domain, streams apply provisions on the hub, and doctor then finds the streams", async () => {
    const env = { NATS_SERVER_URL: leaf.url, NATS_JS_DOMAIN: "hub" };
    const before = await doctor(env);
    expect(one(before.findings, "config")?.detail).toMatch(/ js-domain=hub /);
    expect(one(before.findings, "jetstream")).toMatchObject({ status: "ok", detail: expect.stringMatching(/^available \(API \$JS\.hub\.API, domain hub\): /) });
    expect(before.code, before.out).toBe(0);

    const apply = await runCli(["streams", "apply"], env);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    const nc = await connect({ servers: hub.url });
    try {
      const names = await (await jetstreamManager(nc)).streams.names().next();
      expect(names.sort()).toEqual(["COZE_AGENT", "COZE_DLQ", "COZE_KNOWLEDGE", "COZE_WORKFLOW"]);
    } finally {
      await nc.close();
    }
    const after = await doctor(env);
    expect(after.findings.filter((f) => f.check === "stream").map((f) => f.status)).toEqual(["ok", "ok", "ok", "ok"]);
  });

  it("without NATS_JS_DOMAIN, doctor fails JetStream and says to set it", async () => {
    const r = await doctor({ NATS_SERVER_URL: leaf.url });
    expect(r.code).toBe(1);
    expect(one(r.findings, "jetstream")).toMatchObject({ status: "fail", detail: expect.stringMatching(/set NATS_JS_DOMAIN when JetStream runs in another domain/) });
  });

  it("a domain nobody serves: the fix is about the domain, not about starting JetStream", async () => {
    const r = await doctor({ NATS_SERVER_URL: leaf.url, NATS_JS_DOMAIN: "nowhere" });
    expect(r.code).toBe(1);
    expect(one(r.findings, "jetstream")).toMatchObject({
      status: "fail",
      detail: expect.stringMatching(/no JetStream answered in domain "nowhere"/),
      fix: expect.stringMatching(/^set NATS_JS_DOMAIN to the domain in the JetStream server's jetstream \{ domain \}/),
    });
  });

  it("a bad domain is a config failure naming the variable", async () => {
    const r = await doctor({ NATS_SERVER_URL: leaf.url, NATS_JS_DOMAIN: "hub.eu" });
    expect(r.code).toBe(1);
    expect(r.findings).toEqual([expect.objectContaining({ check: "config", status: "fail", detail: expect.stringMatching(/^NATS_JS_DOMAIN: "hub\.eu" is not a JetStream domain/) })]);
  });
});

describe("a user allowed only its own inbox prefix", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer({
      auth: {
        users: [
          {
            user: "svc",
            password: "svc-pw",
            permissions: { publish: ["coze.>", "$JS.API.>", "$JS.ACK.>", "_INBOX_svc.>"], subscribe: ["coze.>", "_INBOX_svc.>"] },
          },
        ],
      },
    });
  });
  afterAll(() => server?.stop());
  const creds = (): Record<string, string> => ({ NATS_SERVER_URL: server.url, NATS_USERNAME: "svc", NATS_PASSWORD: "svc-pw" });

  it("doctor with NATS_INBOX_PREFIX shows it and reaches JetStream", async () => {
    const r = await doctor({ ...creds(), NATS_INBOX_PREFIX: "_INBOX_svc" });
    expect(one(r.findings, "config")?.detail).toMatch(/ inbox=_INBOX_svc /);
    expect(one(r.findings, "connect")).toMatchObject({ status: "ok", detail: expect.stringMatching(/; inboxes under _INBOX_svc \(NATS_INBOX_PREFIX\)$/) });
    expect(one(r.findings, "jetstream")).toMatchObject({ status: "ok", detail: expect.stringMatching(/^available \(API \$JS\.API\): /) });
    expect(r.out).not.toContain("svc-pw");
  });

  it("doctor without it fails JetStream with the permission and the variable to set", async () => {
    const r = await doctor(creds());
    expect(r.code).toBe(1);
    expect(one(r.findings, "jetstream")).toMatchObject({
      status: "fail",
      detail: expect.stringMatching(/subscribe to "_INBOX\.[^"]+", its reply inbox; set NATS_INBOX_PREFIX/),
      fix: expect.stringMatching(/NATS_INBOX_PREFIX/),
    });
  });
});

describe("commands that start a local server", () => {
  it("with NATS_JS_API_PREFIX and no server, refuse (exit 2): a local server has no imported JetStream", async () => {
    const r = await runCli(["demo", "--events", "1"], { NATS_SERVER_URL: undefined, MQ_NAME_SERVER: undefined, NATS_JS_API_PREFIX: "JS.acme.API" });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/NATS_JS_API_PREFIX is set but no server is/);
  });

  it("with NATS_JS_DOMAIN and no server, run the demo on a local server in that domain", async () => {
    const r = await runCli(["demo", "--json", "--events", "20"], { NATS_SERVER_URL: undefined, MQ_NAME_SERVER: undefined, NATS_JS_DOMAIN: "hub" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/a local nats-server \d+\.\d+\.\d+ with JetStream in domain hub at nats:\/\/127\.0\.0\.1:\d+/);
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { lost: number };
    expect(summary.lost).toBe(0);
  });
});
