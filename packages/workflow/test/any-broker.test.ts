import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type Transport } from "@cozebus/core";
import { startNatsServer, startPulsar, type NatsServer, type PulsarBroker } from "@cozebus/testing";
import { audit } from "../examples/any-broker.js";

// One typed service, unchanged, on both brokers: only COZE_MQ_TYPE and the address differ.
let nats: NatsServer;
let pulsar: PulsarBroker;
beforeAll(async () => {
  [nats, pulsar] = await Promise.all([startNatsServer(), startPulsar()]);
}, 5 * 60_000);
afterAll(async () => {
  await Promise.all([nats?.stop(), pulsar?.stop()]);
});

const ids = Array.from({ length: 20 }, (_, i) => `wf_${i}`);

describe("the same typed service on NATS and on Pulsar", () => {
  const run = async (env: Record<string, string>): Promise<{ name: string; seen: string[] }> => {
    const bus: Transport = await connect({ env, onError: () => undefined });
    try {
      return { name: bus.name, seen: await audit(bus, ids) };
    } finally {
      await bus.drain();
    }
  };

  it("COZE_MQ_TYPE=nats: every execution published is handled", async () => {
    const r = await run({ COZE_MQ_TYPE: "nats", NATS_SERVER_URL: nats.url });
    expect(r.name).toBe("nats");
    expect([...r.seen].sort()).toEqual([...ids].sort());
  });

  it("COZE_MQ_TYPE=pulsar: every execution published is handled", async () => {
    const r = await run({ COZE_MQ_TYPE: "pulsar", MQ_NAME_SERVER: pulsar.serviceUrl, PULSAR_WEB_SERVICE_URL: pulsar.webServiceUrl });
    expect(r.name).toBe("pulsar");
    expect([...r.seen].sort()).toEqual([...ids].sort());
  });
});
