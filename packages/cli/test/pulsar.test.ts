import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NonRetryableError } from "@cozebus/core";
import { connectPulsar, type PulsarTransport } from "@cozebus/pulsar";
import { startPulsar, waitFor, type PulsarBroker } from "@cozebus/testing";
import { workflow } from "@cozebus/workflow";
import { runCli } from "./run-cli.js";

// One broker for the file, with token auth on, so the CLI's token path is what runs (and doctor can be refused).
let broker: PulsarBroker;
let token: string;
let transport: PulsarTransport;

/** The CLI on Pulsar, as a deployment configures it: COZE_MQ_TYPE, MQ_NAME_SERVER, the web service (not on 8080 here), the token. */
const cozebus = (args: string[], env: Record<string, string | undefined> = {}): ReturnType<typeof runCli> =>
  runCli(args, { COZE_MQ_TYPE: "pulsar", MQ_NAME_SERVER: broker.serviceUrl, PULSAR_WEB_SERVICE_URL: broker.webServiceUrl, PULSAR_JWT_TOKEN: token, NATS_SERVER_URL: undefined, ...env });

const lines = (stdout: string): Array<Record<string, unknown>> => stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

async function subscriptions(topic: string): Promise<string[]> {
  const res = await broker.admin(`/admin/v2/persistent/public/default/${topic}/subscriptions`);
  return (await res.json()) as string[];
}

beforeAll(async () => {
  broker = await startPulsar({ auth: true });
  token = broker.auth!.superUserToken;
  transport = await connectPulsar({ env: { PULSAR_WEB_SERVICE_URL: broker.webServiceUrl, PULSAR_JWT_TOKEN: token }, onError: () => undefined });
}, 180_000);

afterAll(async () => {
  await transport?.close();
  await broker?.stop();
});

describe("cozebus on Pulsar (COZE_MQ_TYPE=pulsar)", () => {
  it("provision creates every domain's topics and dead-letter topic, idempotently; doctor then finds nothing wrong and prints the feature table", async () => {
    const first = await cozebus(["provision", "--json"]);
    expect(first.code, first.stderr).toBe(0);
    const created = lines(first.stdout).filter((l) => l["action"] === "created").map((l) => l["resource"]);
    expect(created).toContain("topic persistent://public/default/coze.workflow.started");
    expect(created).toContain("subscription cozebus-dlq on persistent://public/default/coze.knowledge-DLQ");
    const again = await cozebus(["provision", "--json"]);
    expect(lines(again.stdout).filter((l) => l["action"] === "created")).toEqual([]);

    const doctor = await cozebus(["doctor", "--json"]);
    expect(doctor.code, doctor.stdout).toBe(0);
    const findings = lines(doctor.stdout) as Array<{ check: string; status: string; detail: string; features?: Record<string, Record<string, boolean>> }>;
    expect(findings.filter((f) => f.status === "fail" || f.status === "warn")).toEqual([]);
    expect(findings.map((f) => f.check)).toEqual(["config", "connect", "auth", "tls", "server", "namespace", "topics", "topics", "topics", "dead-letters", "transport"]);
    expect(findings.find((f) => f.check === "auth")!.detail).toBe("PULSAR_JWT_TOKEN accepted");
    expect(findings.find((f) => f.check === "transport")!.features!["at-least-once"]).toMatchObject({ durable: true, deadLetters: true, requestReply: false });
    const text = await cozebus(["doctor"]);
    expect(text.stdout).toMatch(/ok {4}transport .*\n +feature +at-most-once +at-least-once\n +durable +yes +yes\n/);
  }, 60_000);

  it("doctor without the token: the auth check fails naming PULSAR_JWT_TOKEN, never showing a token", async () => {
    const r = await cozebus(["doctor", "--json"], { PULSAR_JWT_TOKEN: undefined });
    expect(r.code).toBe(1);
    const findings = lines(r.stdout) as Array<{ check: string; status: string; fix?: string }>;
    expect(findings.find((f) => f.check === "connect")?.status).toBe("ok");
    expect(findings.find((f) => f.check === "auth")).toMatchObject({ status: "fail", fix: expect.stringContaining("set PULSAR_JWT_TOKEN") });
    expect(findings.find((f) => f.check === "topics")).toBeUndefined(); // nothing checked past a refused connection
    expect(r.stdout + r.stderr).not.toContain(token);
  }, 30_000);

  it("pub then sub --json: the round trip; sub's own subscription is removed on exit, --group G is kept", async () => {
    const sub = cozebus(["sub", "workflow.executionStarted", "--count", "1", "--json"]);
    await waitFor("the subscriber to listen", () => sub.stderrText().includes("listening on persistent://public/default/coze.workflow.started"), 30_000);
    const own = /subscription (cozebus-cli-[0-9a-f]+), removed on exit/.exec(sub.stderrText())![1]!;
    const p = await cozebus(["pub", "coze.workflow.v1.WorkflowExecutionStarted", '{"workflowId":"wf_cli","executeId":"9223372036854775807","startedAt":"2026-11-22T10:00:00Z"}', "--json"]);
    expect(p.code, p.stderr).toBe(0);
    const receipt = JSON.parse(p.stdout) as { subject: string; qos: string; position: string };
    expect(receipt).toMatchObject({ subject: "coze.workflow.wf_cli.started", qos: "at-least-once", position: expect.stringMatching(/^\d+:\d+/) });
    const s = await sub;
    expect(s.code, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout)).toMatchObject({ subject: "coze.workflow.wf_cli.started", type: "coze.workflow.v1.WorkflowExecutionStarted", data: { workflowId: "wf_cli", executeId: "9223372036854775807" } });
    expect(await subscriptions("coze.workflow.started")).not.toContain(own);

    // A whole domain, on a kept subscription: a new group starts at the oldest kept event, so it gets the event
    // published above first, then the new one.
    const kept = cozebus(["sub", "coze.workflow.>", "--group", "cli-kept", "--count", "2", "--json"]);
    await waitFor("the group subscriber to listen", () => kept.stderrText().includes("(subscription cli-kept, kept)"), 30_000);
    expect((await cozebus(["pub", "workflow.nodeStarted", '{"workflowId":"wf_cli","executeId":"1","nodeId":"n1"}'])).code).toBe(0);
    const k = await kept;
    expect(k.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { subject: string }).subject).sort()).toEqual(["coze.workflow.wf_cli.node_started", "coze.workflow.wf_cli.started"]);
    expect(await subscriptions("coze.workflow.node_started")).toContain("cli-kept");
  }, 60_000);

  it("NATS-only commands are usage errors naming COZE_MQ_TYPE; a subject wildcard is refused with what sub takes instead", async () => {
    for (const args of [["streams", "apply"], ["streams", "list"], ["request", "agent.runTurn", "{}"]]) {
      const r = await cozebus(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/is NATS-only, and COZE_MQ_TYPE=pulsar selects the Pulsar transport.*set COZE_MQ_TYPE=nats/);
    }
    const flag = await cozebus(["streams", "list", "--mq-type", "pulsar"], { COZE_MQ_TYPE: undefined });
    expect(flag.stderr).toContain("--mq-type pulsar selects the Pulsar transport");
    const wildcard = await cozebus(["sub", "coze.*.started"]);
    expect(wildcard.code).toBe(2);
    expect(wildcard.stderr).toContain("sub takes an event (cozebus events lists them) or a whole domain");
    const bad = await cozebus(["events"], { COZE_MQ_TYPE: "kafka" });
    expect(bad.code).toBe(0); // events reads only the catalogue
    const badPub = await cozebus(["pub", "workflow.executionStarted", '{"workflowId":"w"}'], { COZE_MQ_TYPE: "kafka" });
    expect(badPub.code).toBe(2);
    expect(badPub.stderr).toContain("COZE_MQ_TYPE");
  }, 60_000);

  it("dlq list / show decode the dead letter by its schema; replay sends it back to its topic and removes it", async () => {
    const wf = workflow(transport);
    const sub = await wf.executionFailed.subscribe(() => {
      throw new NonRetryableError("cannot handle this one");
    }, { group: "cli-dlq-test", onError: () => undefined });
    await wf.executionFailed.publish({ workflowId: "wf_dead", executeId: 42n, errorMessage: "boom" });
    let listed: Array<Record<string, unknown>> = [];
    await waitFor(
      "the dead letter",
      async () => {
        listed = lines((await cozebus(["dlq", "list", "--json"])).stdout);
        return listed.length > 0;
      },
      30_000,
    );
    await sub.stop();
    const d = listed[0]!;
    expect(d).toMatchObject({ domain: "workflow", reason: "non-retryable", subject: "coze.workflow.wf_dead.failed", origin: "persistent://public/default/coze.workflow.failed", consumer: "cli-dlq-test", type: "coze.workflow.v1.WorkflowExecutionFailed", error: expect.stringContaining("cannot handle this one") });
    expect((await cozebus(["dlq", "list", "--json", "--reason", "undecodable"])).stdout).toBe("");

    const show = await cozebus(["dlq", "show", d["id"] as string, "--json"]);
    expect(show.code, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({ id: d["id"], key: "wf_dead", data: { workflowId: "wf_dead", executeId: "42", errorMessage: "boom" } });

    const replay = await cozebus(["dlq", "replay", `workflow/${d["id"] as string}`, "--json"]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ replayed: d["id"], topic: "persistent://public/default/coze.workflow.failed" });
    expect((await cozebus(["dlq", "list"])).stdout).toBe("no dead letters\n");
    expect((await cozebus(["dlq", "replay", "1:2"])).code).toBe(1);
    expect((await cozebus(["dlq", "show", "seven"])).code).toBe(2);
  }, 60_000);

  it("bench --json: both Pulsar benchmarks measure both sides on the configured broker and clean up their topics", async () => {
    const r = await cozebus(["bench", "--json", "--messages", "200", "--rounds", "1"]);
    expect(r.code, r.stderr).toBe(0);
    const rows = lines(r.stdout) as Array<{ bench: string; ours: number; raw: number; ratio: number; unit: string }>;
    expect(rows.map((l) => l.bench)).toEqual(["pulsar publish 128B, receipts awaited, 256 in flight", "pulsar consume + ack, no-op handler"]);
    for (const l of rows) {
      expect(l.unit).toBe("msg/s");
      expect(l.ours).toBeGreaterThan(0);
      expect(l.raw).toBeGreaterThan(0);
      expect(typeof l.ratio).toBe("number"); // printed, never asserted: the machine is shared
    }
    const topics = (await (await broker.admin("/admin/v2/persistent/public/default")).json()) as string[];
    expect(topics.filter((t) => t.includes("cozebench"))).toEqual([]);
  }, 120_000);

  it("demo --json: the scenario on Pulsar ends with lost 0 and names what it skipped", async () => {
    const r = await cozebus(["demo", "--json", "--events", "40"]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
    expect(summary["lost"]).toBe(0);
    // 40 executions x (started + 3 x node started/completed + completed), the agent, the batch and its 10 documents.
    expect(summary["published"]).toBe(40 * 8 + 1 + 1 + 10);
    expect(summary["delivered"]).toBe((summary["published"] as number) - 1);
    expect(summary["dead_lettered"]).toBe(1); // the poison document
    expect(summary["transport"]).toBe("pulsar");
    expect(summary["conversation_turns"]).toBe(0);
    expect(summary["skipped"]).toEqual([expect.stringMatching(/^agent\.runTurn .*requestReply: false/)]);
  }, 120_000);
});
