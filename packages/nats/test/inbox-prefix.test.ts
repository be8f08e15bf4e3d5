import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer, type UserPermissions } from "@cozebus/testing";
import { JetStreamUnavailableError, NonRetryableError, PermissionError, openBus, type Bus, type DeliveredMessage } from "../src/index.js";
import { bytes, memoryLogger, provisionRaw, text, waitFor } from "./helpers.js";

/**
 * A service user whose permissions allow only its own inbox prefix,
 * `_INBOX_svc.>`, plus the subjects and JetStream API it needs: nothing
 * under `_INBOX.`. With NATS_INBOX_PREFIX=_INBOX_svc every path works; without it
 * the server refuses the inboxes, and cozebus says which variable to set.
 */
const svc: UserPermissions = {
  publish: ["coze.>", "$JS.API.>", "$JS.ACK.>", "_INBOX_svc.>"],
  subscribe: ["coze.>", "_INBOX_svc.>", "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"],
};

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer({
    auth: {
      users: [
        { user: "svc", password: "svc-pw", permissions: svc },
        // Everything but the max-deliveries advisory: consuming works, and the error hook says what is lost.
        { user: "noadv", password: "noadv-pw", permissions: { publish: svc.publish!, subscribe: ["coze.>", "_INBOX_svc.>"] } },
        // Its inbox is allowed but not the JetStream API: the error must name the API, not the inbox.
        { user: "nojs", password: "nojs-pw", permissions: { publish: ["coze.>", "_INBOX_svc.>"], subscribe: ["coze.>", "_INBOX_svc.>"] } },
      ],
    },
  });
});
afterAll(() => server?.stop());

const buses: Bus[] = [];
afterAll(async () => {
  for (const b of buses) await b.close().catch(() => undefined);
});

let opened = 0;
async function open(env: Record<string, string>): Promise<{ bus: Bus; errors: Error[]; name: string }> {
  const errors: Error[] = [];
  const name = `inbox-test-${++opened}`;
  const bus = await openBus({ name, env: { NATS_SERVER_URL: server.url, NATS_USERNAME: "svc", NATS_PASSWORD: "svc-pw", ...env }, logger: memoryLogger(), onError: (e) => void errors.push(e) });
  buses.push(bus);
  return { bus, errors, name };
}

/** The subscriptions the server holds for this connection: proof of which inboxes were used. */
async function serverSideSubscriptions(name: string): Promise<string[]> {
  const connz = (await (await fetch(`${server.monitorUrl}/connz?subs=1&auth=1`)).json()) as { connections: Array<{ name?: string; subscriptions_list?: string[] }> };
  return connz.connections.filter((c) => c.name === name).flatMap((c) => c.subscriptions_list ?? []);
}

describe("a user allowed only _INBOX_svc.>, with NATS_INBOX_PREFIX=_INBOX_svc", () => {
  it("publishes with JetStream acks, consumes, dead-letters and replays, and makes requests", async () => {
    const { bus, errors, name } = await open({ NATS_INBOX_PREFIX: "_INBOX_svc" });
    expect(bus.inboxPrefix).toBe("_INBOX_svc");
    const js = await bus.jetstream();
    expect(js.routing.inboxPrefix).toBe("_INBOX_svc");
    await provisionRaw(js, "workflow");

    // JetStream publish: the ack comes back to the service's own inbox.
    const ok = await js.publish("coze.workflow.wf1.started", bytes("fine"), { type: "coze.workflow.v1.Started" });
    const poison = await js.publish("coze.workflow.wf2.started", bytes("poison"), { type: "coze.workflow.v1.Started" });
    expect([ok.stream, ok.seq, poison.seq]).toEqual(["COZE_WORKFLOW", 1, 2]);

    // Consume: pulls answered into the service's inbox; acks on $JS.ACK; a NonRetryableError is dead-lettered at once.
    const handled: DeliveredMessage[] = [];
    const c = await js.consume({ stream: "COZE_WORKFLOW", group: "runner" }, (m) => {
      if (text(m.data) === "poison") throw new NonRetryableError("cannot ever work");
      handled.push(m);
    });
    await waitFor("the ack and the dead letter", () => c.stats.acked === 1 && c.stats.deadLettered === 1);
    expect(handled.map((m) => m.delivery.sequence)).toEqual([ok.seq]);
    const [dead] = await js.deadLetters.list();
    expect(dead).toMatchObject({ reason: "non-retryable", subject: "coze.workflow.wf2.started", sequence: poison.seq, consumer: "runner", error: "cannot ever work" });
    expect(text(dead!.data)).toBe("poison");
    // Replay: read from the DLQ and published again, both through the service's inbox.
    const replayed = await js.deadLetters.replay(dead!.seq);
    expect(replayed).toMatchObject({ stream: "COZE_WORKFLOW", subject: "coze.workflow.wf2.started" });
    await waitFor("the replayed event failing again", () => c.stats.deadLettered === 2);

    // Request/reply: the reply goes to _INBOX_svc.…, which this user may both publish to and subscribe to.
    await bus.serve("coze.svc.echo", (req) => bytes(`echo ${text(req.data)}`));
    const reply = await bus.request("coze.svc.echo", bytes("hi"), { type: "coze.svc.v1.Echo" });
    expect(text(reply.data)).toBe("echo hi");

    // Every inbox the connection holds is under the service's prefix; none under _INBOX.
    const subs = await serverSideSubscriptions(name);
    expect(subs.filter((s) => s.startsWith("_INBOX_svc."))).not.toEqual([]);
    expect(subs.filter((s) => s.startsWith("_INBOX."))).toEqual([]);
    await c.stop();
    expect(errors.filter((e) => e instanceof PermissionError || /permission/i.test(e.message))).toEqual([]);
  });
});

describe("a user who may not subscribe to max-deliveries advisories", () => {
  it("consumes, and the error hook says that events whose handler never returns will not be dead-lettered", async () => {
    const errors: Error[] = [];
    const bus = await openBus({ env: { NATS_SERVER_URL: server.url, NATS_USERNAME: "noadv", NATS_PASSWORD: "noadv-pw", NATS_INBOX_PREFIX: "_INBOX_svc" }, logger: memoryLogger(), onError: (e) => void errors.push(e) });
    buses.push(bus);
    const js = await bus.jetstream();
    await provisionRaw(js, "agent");
    const sent = await js.publish("coze.agent.a1.published", bytes("x"), { type: "t" });
    const got: number[] = [];
    const c = await js.consume({ stream: "COZE_AGENT", group: "noadv" }, (m) => void got.push(m.delivery.sequence));
    await waitFor("the delivery and the refusal reported", () => got.length === 1 && errors.some((e) => e instanceof PermissionError));
    expect(got).toEqual([sent.seq]);
    expect(errors.find((e) => e instanceof PermissionError)?.message).toMatch(
      /events of COZE_AGENT\/noadv whose handler never returns will not be dead-lettered: the server refused the subscription to "\$JS\.EVENT\.ADVISORY\.CONSUMER\.MAX_DELIVERIES\.COZE_AGENT\.noadv"/,
    );
    await c.stop();
  });
});

describe("the same user without NATS_INBOX_PREFIX: the permission is real", () => {
  it("JetStream is refused with a PermissionError that names NATS_INBOX_PREFIX", async () => {
    const { bus } = await open({});
    const err = await bus.jetstream().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PermissionError);
    expect((err as PermissionError).code).toBe("PERMISSION_DENIED");
    expect((err as Error).message).toMatch(/does not let this user subscribe to "_INBOX\.[^"]+", its reply inbox; set NATS_INBOX_PREFIX/);
    expect((err as Error).message).not.toContain("svc-pw");
  });

  it("a request is refused with a PermissionError that names NATS_INBOX_PREFIX", async () => {
    const { bus } = await open({});
    await expect(bus.request("coze.svc.echo", bytes("hi"), { type: "t", timeoutMs: 3000 })).rejects.toThrow(
      expect.objectContaining({ code: "PERMISSION_DENIED", message: expect.stringMatching(/request to "coze\.svc\.echo" failed: .*its reply inbox; set NATS_INBOX_PREFIX/) }),
    );
  });

  it("a prefix the user is not allowed is refused naming that prefix", async () => {
    const { bus } = await open({ NATS_INBOX_PREFIX: "_INBOX_other" });
    await expect(bus.jetstream()).rejects.toThrow(
      expect.objectContaining({ code: "PERMISSION_DENIED", message: expect.stringMatching(/under the inbox prefix _INBOX_other \(NATS_INBOX_PREFIX\); allow this user to subscribe to "_INBOX_other\.>"/) }),
    );
  });

  it("a user with its inbox but without the JetStream API is told about the API, not the inbox", async () => {
    const bus = await openBus({ env: { NATS_SERVER_URL: server.url, NATS_USERNAME: "nojs", NATS_PASSWORD: "nojs-pw", NATS_INBOX_PREFIX: "_INBOX_svc" }, logger: memoryLogger(), onError: () => undefined });
    buses.push(bus);
    const err = await bus.jetstream().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PermissionError);
    expect((err as Error).message).toMatch(/publish to "\$JS\.API\.INFO", the JetStream API under \$JS\.API; allow this user to publish to "\$JS\.API\.>"/);
    expect(err).not.toBeInstanceOf(JetStreamUnavailableError);
  });
});
