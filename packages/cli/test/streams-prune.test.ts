import { describe, expect, it } from "vitest";
import { silentLogger, startNatsServer } from "@cozebus/testing";
import { openBus, type PrunePlan } from "@cozebus/nats";
import { runCli } from "./run-cli.js";

interface Finding {
  check: string;
  status: "ok" | "warn" | "fail" | "skip";
  detail: string;
  fix?: string;
}

const findings = (stdout: string): Finding[] => stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Finding);

describe("rolling upgrades: streams apply is additive, prune is explicit, doctor reports what was kept", () => {
  it("a stream an older tool made over coze.workflow.> (capturing request subjects): doctor fails, apply keeps it, prune lists it and removes it only with --yes", async () => {
    await using server = await startNatsServer();
    const env = { NATS_SERVER_URL: server.url };
    const bus = await openBus({ servers: server.url, env: {}, logger: silentLogger });
    let metadata: boolean;
    try {
      const js = await bus.jetstream();
      metadata = bus.server.supports("stream-metadata");
      // Kept 14 days by an operator (more than the schemas' 7): provisioning must not lower it.
      await js.ensureStream(js.domainStream("workflow", ["coze.workflow.>"], { maxAgeMs: 14 * 24 * 3600 * 1000 }));
    } finally {
      await bus.close();
    }

    const before = findings((await runCli(["doctor", "--json"], env)).stdout);
    const wf = before.filter((f) => f.check === "stream" && f.detail.startsWith("COZE_WORKFLOW"));
    expect(wf).toContainEqual(expect.objectContaining({ status: "fail", detail: expect.stringMatching(/coze\.workflow\.> also captures request\/reply subjects \(.*coze\.workflow\.\*\.get_status.*\)/) }));
    expect(wf).toContainEqual(expect.objectContaining({ status: "warn", detail: expect.stringMatching(/max_age is 1209600000000000 on the server, this build wants 604800000000000: kept/) }));

    const apply = await runCli(["streams", "apply"], env);
    expect(apply.code, apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(/COZE_WORKFLOW: (unchanged|updated)[^\n]*\n  kept: subject coze\.workflow\.> also captures request\/reply subjects/);

    const dry = await runCli(["streams", "prune", "COZE_WORKFLOW"], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/COZE_WORKFLOW: would prune\n  subjects: - coze\.workflow\.>\n      because it captures request\/reply subjects/);
    expect(dry.stdout).toMatch(/max_age: 1209600000000000 -> 604800000000000/);
    expect(dry.stdout).toMatch(/nothing changed\. Run again with --yes/);
    const check = await openBus({ servers: server.url, env: {}, logger: silentLogger });
    try {
      expect((await (await check.jetstream()).jsm.streams.info("COZE_WORKFLOW")).config.subjects).toEqual(["coze.workflow.>"]);
    } finally {
      await check.close();
    }

    const done = await runCli(["streams", "prune", "COZE_WORKFLOW", "--yes", "--json"], env);
    expect(done.code, done.stderr).toBe(0);
    const plan = JSON.parse(done.stdout.trim()) as PrunePlan;
    expect(plan).toMatchObject({ stream: "COZE_WORKFLOW", applied: true });

    const after = findings((await runCli(["doctor", "--json"], env)).stdout);
    const ok = after.find((f) => f.check === "stream" && f.detail.startsWith("COZE_WORKFLOW"));
    expect(ok).toMatchObject({ status: "ok" });
    if (metadata) expect(ok?.detail).toMatch(/provisioned by @cozebus\/workflow@\d+\.\d+\.\d+/);
    expect((await runCli(["streams", "prune"], env)).stdout).toMatch(/COZE_WORKFLOW: nothing to prune/);

    const info = await runCli(["streams", "info", "COZE_WORKFLOW"], env);
    expect(info.stdout).toMatch(metadata ? /provisioned +@cozebus\/workflow@\d+\.\d+\.\d+ \(since / : /provisioned +no build recorded/);
  });

  it("bad uses are usage errors (exit 2): --yes outside prune, an unknown --reason", async () => {
    await using server = await startNatsServer();
    const env = { NATS_SERVER_URL: server.url };
    const yes = await runCli(["streams", "apply", "--yes"], env);
    expect(yes.code).toBe(2);
    expect(yes.stderr).toMatch(/--yes and --force belong to streams prune/);
    const reason = await runCli(["dlq", "list", "--reason", "bogus"], env);
    expect(reason.code).toBe(2);
    expect(reason.stderr).toMatch(/--reason must be one of non-retryable, undecodable, max-deliveries, abandoned, unknown-event/);
    const notHere = await runCli(["streams", "prune", "NOT_OURS"], env);
    expect(notHere.code).toBe(1);
    expect(notHere.stderr).toMatch(/NOT_OURS is not a stream of these schemas/);
  });
});
