/**
 * What cozebus uses from newer nats-servers, and the fallback it takes on
 * older ones. Every case asserts the branch the running server takes, so the
 * file means something on each version of the matrix.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import { domainClient, openBus, type Bus, type JetStream } from "../src/index.js";
import { ensureConsumer } from "../src/jetstream/consumer.js";
import { memoryLogger, waitFor } from "./helpers.js";
import { testDomain, type Payload } from "./typed-domain.js";

let server: NatsServer;
let bus: Bus;
let js: JetStream;

beforeAll(async () => {
  server = await startNatsServer();
  bus = await openBus({ servers: server.url, env: {}, logger: memoryLogger(), onError: () => undefined });
  js = await bus.jetstream();
});
afterAll(async () => {
  await bus?.close();
  await server?.stop();
});

describe(`server features (nats-server ${process.env["COZEBUS_NATS_VERSION"] ?? "default"})`, () => {
  it("subscribeAll of a chosen set of events: one consumer with filter_subjects on 2.10+, one per event before", async () => {
    const client = domainClient(bus, testDomain("subset", "new", "jetstream"));
    await client.provision();
    const got: string[] = [];
    const sub = await client.subscribeAll((e) => void got.push(`${e.type}:${(e.event as Payload).payload}`), { group: "pick", events: ["a", "c"] });
    try {
      for (const name of ["a", "b", "c"]) await (client as unknown as Record<string, { publish(p: Partial<Payload>): Promise<unknown> }>)[name]!.publish({ key: "k", payload: name });
      await waitFor("a and c", () => got.length === 2);
      expect(got.sort()).toEqual(["a:a", "c:c"]);
      const consumers = [];
      for await (const c of js.jsm.consumers.list("COZE_SUBSET")) consumers.push(c.config);
      if (bus.server.supports("multi-filter")) {
        expect(consumers).toHaveLength(1);
        expect([...(consumers[0]!.filter_subjects ?? [])].sort()).toEqual(["coze.subset.*.a", "coze.subset.*.c"]);
      } else {
        expect(consumers.map((c) => c.filter_subject).sort()).toEqual(["coze.subset.*.a", "coze.subset.*.c"]);
      }
    } finally {
      await sub.stop();
    }
    await expect(client.subscribeAll(() => undefined, { group: "pick", events: ["nope" as "a"] })).rejects.toThrow(/nope is not an event of subset \(events: a, b, c\)/);
  });

  it("a consumer created concurrently with another config: refused by the create action on 2.10+, then reconciled explicitly", async () => {
    await js.ensureStream(js.domainStream("race", ["coze.race.>"]));
    const base = { durable_name: "racer", ack_policy: "explicit" as const, deliver_policy: "all" as const, max_deliver: 5, max_ack_pending: 100, ack_wait: 30e9 };
    const results = await Promise.all([ensureConsumer(js.jsm, "COZE_RACE", base), ensureConsumer(js.jsm, "COZE_RACE", { ...base, max_deliver: 9 })]);
    if (bus.server.supports("consumer-create-action")) {
      // One create wins; the other is refused, reads what is there and updates it explicitly.
      expect([...results].sort()).toEqual(["created", "updated"]);
    } else {
      // 2.9 ignores the action: both creates may "succeed", the last one silently overwriting the first.
      expect([["created", "created"], ["created", "updated"]]).toContainEqual([...results].sort());
    }
    const info = await js.jsm.consumers.info("COZE_RACE", "racer");
    expect([5, 9]).toContain(info.config.max_deliver);
  });
});
