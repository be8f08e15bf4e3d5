import { isCozebusError, type SubscriptionSpec } from "@cozebus/core/transport";
import { createPulsarSecretKey, createPulsarToken, startPulsar, type PulsarBroker } from "@cozebus/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectPulsar } from "../src/index.js";
import { event, freshTemplate, recorder, until } from "./helpers.js";

let broker: PulsarBroker;

beforeAll(async () => {
  broker = await startPulsar({ auth: true });
  // alice may produce and consume in public/default; bob is a known role with no grant at all.
  const grant = await broker.admin("/admin/v2/namespaces/public/default/permissions/alice", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(["produce", "consume"]),
  });
  expect(grant.status).toBe(204);
}, 180_000);

afterAll(async () => {
  await broker?.stop();
});

const connect = (token: string | undefined) => connectPulsar({ env: { PULSAR_WEB_SERVICE_URL: broker.webServiceUrl, ...(token !== undefined ? { PULSAR_JWT_TOKEN: token } : {}) }, onError: () => {} });

describe("JWT token auth (PULSAR_JWT_TOKEN)", () => {
  it("a token with a grant publishes and subscribes", async () => {
    const bus = await connect(broker.auth!.createToken("alice"));
    const tpl = freshTemplate();
    const r = recorder();
    const spec: SubscriptionSpec = { domain: "wf", group: "g", qos: "at-least-once", events: [{ template: tpl }] };
    const sub = await bus.subscribe(spec, r.handler);
    await bus.publish(event(tpl, "w1"));
    await until(() => r.seen.length === 1, "the event");
    await sub.stop();
    await bus.close();
  });

  it("a wrong token, or none, is an AuthError that never shows the token", async () => {
    const forged = createPulsarToken(createPulsarSecretKey(), "alice");
    const err = await connect(forged).catch((e: unknown) => e);
    expect(isCozebusError(err, "AUTH_FAILED")).toBe(true);
    expect((err as Error).message).toContain("PULSAR_JWT_TOKEN");
    expect((err as Error).message).not.toContain(forged);
    expect((err as Error).message).not.toContain(forged.split(".")[2]!);
    const none = await connect(undefined).catch((e: unknown) => e);
    expect(isCozebusError(none, "AUTH_FAILED")).toBe(true);
  });

  it("a role without a grant on the topic: PermissionError naming the topic, on publish and on subscribe", async () => {
    const token = broker.auth!.createToken("bob");
    const bus = await connect(token);
    const tpl = freshTemplate();
    const topic = bus.topicOf(event(tpl, "x"));
    const pub = await bus.publish(event(tpl, "x")).catch((e: unknown) => e);
    expect(isCozebusError(pub, "PERMISSION_DENIED")).toBe(true);
    expect((pub as Error).message).toContain(topic);
    expect((pub as Error).message).not.toContain(token);
    const sub = await bus.subscribe({ domain: "wf", group: "g", qos: "at-least-once", events: [{ template: tpl }] }, recorder().handler).catch((e: unknown) => e);
    expect(isCozebusError(sub, "PERMISSION_DENIED")).toBe(true);
    expect((sub as Error).message).toContain(topic);
    await bus.close();
  });
});
