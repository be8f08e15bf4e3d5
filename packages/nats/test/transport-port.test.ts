import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect as connectAny, domainClient, FeatureUnavailableError, type EventClient, type EventDef, type Transport } from "@cozebus/core";
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import type { NatsTransport } from "../src/index.js";
import { testDomain, type Payload } from "./typed-domain.js";
import { waitFor } from "./helpers.js";

let server: NatsServer;
let transport: Transport;

beforeAll(async () => {
  server = await startNatsServer();
  // The factory a service calls: COZE_MQ_TYPE unset means NATS, configured from the NATS variables.
  transport = await connectAny({ env: { NATS_SERVER_URL: server.url }, onError: () => undefined });
});

afterAll(async () => {
  await transport?.drain();
  await server?.stop();
});

describe("the NATS transport behind the port", () => {
  it("connect() with COZE_MQ_TYPE unset (or nats) loads @cozebus/nats and returns its transport", () => {
    // connect() loads the installed @cozebus/nats (its dist), not this test's sources: compare by what it is, not by class identity.
    expect(transport.name).toBe("nats");
    expect((transport as NatsTransport).bus.server.version).toMatch(/^2\.\d+\.\d+$/);
    expect(transport.subjectRoot).toBe("coze");
  });

  it("declares per quality of service what it can do, from the server it is on", () => {
    const once = transport.features("at-most-once");
    expect(once).toMatchObject({ durable: false, redelivery: false, deadLetters: false, orderPerKey: false, requestReply: true });
    const stored = transport.features("at-least-once");
    expect(stored).toMatchObject({ durable: true, redelivery: true, deadLetters: true, orderPerSubject: true, brokerFilters: true, extendAck: true });
    // The newer ones follow the server this file runs on (2.12 by default: all of them).
    const server = (transport as NatsTransport).bus.server;
    expect(stored).toMatchObject({ orderPerKey: server.supports("pinned-client"), messageTtl: server.supports("msg-ttl"), delayedDelivery: server.supports("msg-schedules"), atomicBatch: server.supports("atomic-batch") });
    if (!stored.orderPerKey) expect(transport.whyLacking?.("orderPerKey", "at-least-once")).toBe(`needs nats-server 2.11.0 or later; this server is ${server.version}`);
  });

  it("the same typed code runs on the transport from connect(): publish, subscribe, receipt in the port's terms", async () => {
    const client = domainClient(transport, testDomain("port", "old", "jetstream"));
    await client.provision();
    const got: Array<{ payload: string; subject: string; attempt: number }> = [];
    const a = client["a"] as unknown as EventClient<EventDef>;
    const sub = await a.subscribe((e, ctx) => void got.push({ payload: (e as Payload).payload, subject: ctx.subject, attempt: ctx.attempt }), { group: "port" });
    const receipt = await a.publish({ key: "k1", payload: "hello" });
    expect(receipt).toMatchObject({ subject: "coze.port.k1.a", qos: "at-least-once", duplicate: false });
    expect(receipt.position).toMatch(/^COZE_PORT#\d+$/);
    await waitFor("the event", () => got.length === 1, 5000);
    expect(got).toEqual([{ payload: "hello", subject: "coze.port.k1.a", attempt: 1 }]);
    await sub.stop();
  });

  it("a retry policy on an at-most-once event is refused, not dropped", async () => {
    const client = domainClient(transport, testDomain("portcore", "old", "core"));
    const a = client["a"] as unknown as EventClient<EventDef>;
    await expect(a.subscribe(() => undefined, { group: "g", retry: { maxDeliveries: 3 } })).rejects.toThrow(FeatureUnavailableError);
    await expect(a.subscribe(() => undefined, { group: "g", orderBy: "subject" })).rejects.toThrow(/orderBy "subject" needs ordered at-least-once delivery; cozebus\.conformance\.v1\.A is delivered at-most-once on nats here/);
  });
});
