import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { resolveConfig } from "@cozebus/nats";
import { startNatsCluster, startNatsServer } from "@cozebus/testing";
import { runCli } from "./run-cli.js";

/**
 * The deployment examples in deploy/ are run, not just shipped: nats-server
 * starts from deploy/nats.conf (moved to loopback ports and a temp store),
 * cozebus provisions and checks it, and the environment blocks of the
 * compose file and the Helm ConfigMap go through cozebus's own validation.
 */
const DEPLOY = fileURLToPath(new URL("../../../deploy/", import.meta.url));
const NATS_CONF = `${DEPLOY}nats.conf`;

interface Finding {
  check: string;
  status: string;
  detail: string;
}
const findingsOf = (stdout: string): Finding[] => stdout.trim().split("\n").map((l) => JSON.parse(l) as Finding);

describe("deploy/", () => {
  it("nats.conf: its limits are in force, streams fit, doctor has no failure, the demo loses nothing", async () => {
    await using server = await startNatsServer({ baseConfigFile: NATS_CONF });
    const varz = (await (await fetch(`${server.monitorUrl}/varz`)).json()) as { max_payload: number; max_pending: number; jetstream: { config: { max_memory: number; max_storage: number } } };
    expect(varz.max_payload).toBe(1024 ** 2);
    expect(varz.max_pending).toBe(64 * 1024 ** 2);
    expect(varz.jetstream.config.max_memory).toBe(1024 ** 3);
    expect(varz.jetstream.config.max_storage).toBe(10 * 1024 ** 3);

    const env = { NATS_SERVER_URL: server.url };
    const apply = await runCli(["streams", "apply"], env);
    expect(apply.code, apply.stderr).toBe(0);
    const doctor = await runCli(["doctor", "--json", "--monitor", server.monitorUrl], env);
    expect(doctor.code, doctor.stdout).toBe(0);
    expect(findingsOf(doctor.stdout).filter((f) => f.status === "fail")).toEqual([]);

    const demo = await runCli(["demo", "--json", "--events", "20"], env);
    expect(demo.code, demo.stderr).toBe(0);
    expect((JSON.parse(demo.stdout.trim().split("\n").at(-1)!) as { lost: number }).lost).toBe(0);
  }, 90_000);

  it("helm: a 3-node cluster from nats.conf takes R3 streams with the ConfigMap's replicas, and doctor is green", async () => {
    const values = parse(readFileSync(`${DEPLOY}helm/values.yaml`, "utf8")) as { config: { cluster: { replicas: number }; merge: Record<string, string> } };
    const configMap = parse(readFileSync(`${DEPLOY}helm/cozebus-env.yaml`, "utf8")) as { kind: string; data: Record<string, string> };
    expect(configMap.kind).toBe("ConfigMap");
    const config = resolveConfig({ env: configMap.data });
    expect(config.servers).toHaveLength(values.config.cluster.replicas);
    expect(config.streamReplicas).toBe(values.config.cluster.replicas);
    // The chart's merge block carries the same server settings as the tested nats.conf.
    const conf = readFileSync(NATS_CONF, "utf8");
    for (const [key, value] of Object.entries(values.config.merge)) {
      const plain = value.replace(/^<< (.*) >>$/, "$1");
      expect(conf, key).toMatch(new RegExp(`^${key}: "?${plain}"?$`, "m"));
    }

    const cluster = await startNatsCluster({ baseConfigFile: NATS_CONF });
    try {
      const env = { NATS_SERVER_URL: cluster.urls.join(","), NATS_STREAM_REPLICAS: configMap.data["NATS_STREAM_REPLICAS"] };
      const apply = await runCli(["streams", "apply", "--json"], env);
      expect(apply.code, apply.stderr).toBe(0);
      const info = await runCli(["streams", "info", "COZE_WORKFLOW", "--json"], env);
      const stream = JSON.parse(info.stdout) as { limits: { replicas: number }; cluster: { leader: string | null; replicas: unknown[] } };
      expect(stream.limits.replicas).toBe(3);
      expect(stream.cluster.leader).not.toBeNull();
      expect(stream.cluster.replicas).toHaveLength(2);
      const doctor = await runCli(["doctor", "--json", "--monitor", cluster.servers[0]!.monitorUrl], env);
      expect(findingsOf(doctor.stdout).filter((f) => f.status === "fail"), doctor.stdout).toEqual([]);
      expect(findingsOf(doctor.stdout)).toContainEqual(expect.objectContaining({ check: "monitoring", status: "ok", detail: expect.stringMatching(/^JetStream cluster \S+: 3 servers, meta leader \S+$/) }));
      // More replicas than servers: the monitoring endpoint knows the cluster's size.
      const tooMany = await runCli(["doctor", "--json", "--monitor", cluster.servers[0]!.monitorUrl], { ...env, NATS_STREAM_REPLICAS: "5" });
      expect(tooMany.code).toBe(1);
      expect(findingsOf(tooMany.stdout)).toContainEqual(expect.objectContaining({ status: "fail", detail: expect.stringMatching(/^NATS_STREAM_REPLICAS=5 but JetStream cluster \S+ has 3 servers$/), fix: "set NATS_STREAM_REPLICAS to at most 3, or add servers to the cluster" }));
    } finally {
      await cluster.stop();
    }
  }, 90_000);

  it("docker-compose.yml: mounts the tested nats.conf, and its cozebus environment passes validation", () => {
    const compose = parse(readFileSync(`${DEPLOY}docker-compose.yml`, "utf8")) as {
      services: { nats: { volumes: string[]; command: string[] }; cozebus: { environment: Record<string, string> } };
    };
    expect(compose.services.nats.volumes).toContain("./nats.conf:/etc/nats/nats.conf:ro");
    expect(compose.services.nats.command).toEqual(["-c", "/etc/nats/nats.conf"]);
    const config = resolveConfig({ env: compose.services.cozebus.environment });
    expect(config.servers).toEqual(["nats://nats:4222"]);
    expect(config.useJetStream).toBe(true);
  });
});
