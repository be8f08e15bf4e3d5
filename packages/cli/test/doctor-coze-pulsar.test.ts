/**
 * `cozebus doctor` on a Pulsar broker a Coze Studio deployment uses: the
 * Coze part (doctor-coze.ts, @cozebus/coze-studio's checkCozeStudioPulsar)
 * shows up by itself once Coze's topics exist, and names where cozebus's
 * settings differ from the Go side's: the subscription type each group
 * really has, retention as the broker holds it, a group left behind with a
 * backlog. The Go consumer here holds its group Exclusive as Coze's
 * consumer.go does (Coze's real Go client is run in @cozebus/coze-studio's
 * pulsar-go.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientsFor, resolveConfig, type PulsarWire, type WireConsumer } from "@cozebus/pulsar";
import { KNOWLEDGE, cozeStudioPulsar, knowledgeEvents, pulsarTopicOf, type CozeStudioPulsar } from "@cozebus/coze-studio";
import { startPulsar, waitFor, type PulsarBroker } from "@cozebus/testing";
import { runCli } from "./run-cli.js";

let broker: PulsarBroker;
let raw: { wire: PulsarWire };
let coze: CozeStudioPulsar;

const env = (): Record<string, string | undefined> => ({
  COZE_MQ_TYPE: "pulsar",
  MQ_NAME_SERVER: broker.serviceUrl,
  PULSAR_WEB_SERVICE_URL: broker.webServiceUrl,
  PULSAR_JWT_TOKEN: undefined,
  PULSAR_SERVICE_URL: undefined,
  PULSAR_TENANT: undefined,
  PULSAR_NAMESPACE: undefined,
  NATS_SERVER_URL: undefined,
});

interface Finding {
  check: string;
  status: string;
  detail: string;
  fix?: string;
}

async function doctor(args: string[] = []): Promise<{ code: number | null; findings: Finding[] }> {
  const r = await runCli(["doctor", "--json", ...args], env());
  const findings = r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Finding);
  return { code: r.code, findings };
}

const cozeFindings = (findings: Finding[]): Finding[] => findings.filter((f) => f.check === "coze-studio");
const find = (findings: Finding[], prefix: string): Finding | undefined => cozeFindings(findings).find((f) => f.detail.startsWith(prefix));

beforeAll(async () => {
  broker = await startPulsar();
  raw = clientsFor(resolveConfig({ webServiceUrl: broker.webServiceUrl, env: {} }), () => undefined);
  coze = await cozeStudioPulsar({ pulsar: { env: { MQ_NAME_SERVER: broker.serviceUrl, PULSAR_WEB_SERVICE_URL: broker.webServiceUrl } }, onError: () => undefined });
}, 180_000);

afterAll(async () => {
  await coze?.close();
  await raw?.wire.close();
  await broker?.stop();
});

describe("cozebus doctor and Coze Studio on Pulsar", () => {
  it("says nothing of Coze Studio on a broker without its topics, unless --coze-studio asks", async () => {
    const plain = await doctor();
    expect(plain.code).toBe(0);
    expect(cozeFindings(plain.findings)).toEqual([]);
    const asked = await doctor(["--coze-studio"]);
    expect(asked.code).toBe(0);
    expect(find(asked.findings, "topic persistent://public/default/opencoze_knowledge:")?.detail).toMatch(/missing: the first producer or consumer of either side creates it/);
  }, 60_000);

  it("names the differences: each group's real subscription type (Go's Exclusive, cozebus's Shared), retention as the broker keeps it, cozebus's deliberate ones", async () => {
    // A Go-held group (Exclusive, as consumer.go subscribes) and a cozebus one (Shared).
    const go: WireConsumer = await raw.wire.consumer(pulsarTopicOf("opencoze_search_app"), "cg_search_app", { subscriptionType: "Exclusive", receiverQueueSize: 10, negativeAckRedeliveryDelayMs: 60_000 }, { onMessage: () => undefined });
    const ours = await coze.registerConsumer(KNOWLEDGE, () => undefined);
    try {
      const { code, findings } = await doctor();
      expect(code).toBe(0);
      // Found by itself: Coze's topics exist now.
      expect(find(findings, "subscription cg_search_app on opencoze_search_app:")).toMatchObject({ status: "ok", detail: expect.stringMatching(/Exclusive, 1 consumer\(s\).*Coze's Go consumer.*a cozebus consumer cannot join this group/) });
      expect(find(findings, "subscription cg_knowledge on opencoze_knowledge:")).toMatchObject({ status: "ok", detail: expect.stringMatching(/Shared, 1 consumer\(s\).*a Go consumer of this group is refused \(it subscribes Exclusive\)/) });
      expect(find(findings, "namespace public/default retention:")).toMatchObject({ status: "info", detail: expect.stringMatching(/none \(Pulsar's default\).*the NATS half keeps 24 h/) });
      expect(find(findings, "differs: subscription type:")).toMatchObject({ status: "info", detail: expect.stringMatching(/Go: Exclusive.*cozebus: Shared/) });
      expect(find(findings, "differs: failed handler:")?.detail).toMatch(/1 minute.*forever.*DLQ/);
      expect(find(findings, "differs: new subscription:")?.detail).toMatch(/latest.*earliest/);
      expect(find(findings, "env COZE_MQ_TYPE:")).toMatchObject({ status: "ok", detail: "env COZE_MQ_TYPE: pulsar" });
      // The Coze part comes before the transport's features, as the last finding.
      expect(findings.at(-1)!.check).toBe("transport");
    } finally {
      await go.close();
      await ours.stop();
    }
  }, 60_000);

  it("reads retention from the broker, and warns (with the fix) of a group left with a backlog and no consumer", async () => {
    const set = await broker.admin("/admin/v2/namespaces/public/default/retention", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ retentionTimeInMinutes: 60, retentionSizeInMB: 100 }),
    });
    expect(set.status).toBe(204);
    // cg_knowledge exists (the test above) with no consumer now: what is sent waits in its backlog.
    const p = await coze.producer(KNOWLEDGE);
    await p.send(knowledgeEvents.deleteKnowledgeData(1n, [2n]));
    await waitFor(
      "the backlog on cg_knowledge",
      async () => {
        const res = await broker.admin("/admin/v2/persistent/public/default/opencoze_knowledge/stats");
        const s = (await res.json()) as { subscriptions: Record<string, { msgBacklog?: number }> };
        return (s.subscriptions["cg_knowledge"]?.msgBacklog ?? 0) > 0;
      },
      20_000,
    );
    const { code, findings } = await doctor();
    expect(code).toBe(0);
    expect(find(findings, "namespace public/default retention:")?.detail).toMatch(/60 min \/ 100 MB after acknowledgement \(the NATS half keeps 24 h/);
    const left = find(findings, "subscription cg_knowledge on opencoze_knowledge:");
    expect(left).toMatchObject({ status: "warn", detail: expect.stringMatching(/Shared, 0 consumer\(s\), backlog 1/) });
    expect(left!.fix).toMatch(/docs\/coze-studio\.md/);
    // The text form prints the same, with the info label and the fix.
    const text = await runCli(["doctor"], env());
    expect(text.stdout).toMatch(/info {2}coze-studio +differs: retention: /);
    expect(text.stdout).toMatch(/WARN {2}coze-studio +subscription cg_knowledge on opencoze_knowledge: Shared, 0 consumer\(s\), backlog 1.*\n +fix: docs\/coze-studio\.md/);
  }, 60_000);
});
