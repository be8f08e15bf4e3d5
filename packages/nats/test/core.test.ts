import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import {
  HandlerError,
  NoRespondersError,
  RemoteError,
  RequestTimeoutError,
  ServiceError,
  SlowConsumerError,
  openBus,
  type Bus,
  type InboundMessage,
} from "../src/index.js";
import { bytes, memoryLogger, sleep, text, waitFor } from "./helpers.js";

let server: NatsServer;
let bus: Bus;
const errors: Error[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  bus = await openBus({ servers: server.url, env: {}, logger: memoryLogger(), onError: (e) => void errors.push(e), source: "/tests/core" });
});
afterAll(async () => {
  await bus?.close();
  await server?.stop();
});

describe("publish and subscribe", () => {
  it("delivers payload and the CloudEvents headers of the wire contract", async () => {
    const got: InboundMessage[] = [];
    await bus.subscribe("coze.workflow.*.started", (m) => void got.push(m));
    const time = new Date("2026-01-02T03:04:05.678Z");
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const sent = bus.publish("coze.workflow.wf1.started", bytes("payload"), {
      type: "coze.workflow.v1.WorkflowExecutionStarted",
      time,
      traceparent,
      headers: { "x-tenant": "t1" },
    });
    await waitFor("the event", () => got.length === 1);
    const m = got[0]!;
    expect(text(m.data)).toBe("payload");
    expect(m.subject).toBe("coze.workflow.wf1.started");
    expect(m.event).toEqual({
      id: sent.id,
      type: "coze.workflow.v1.WorkflowExecutionStarted",
      source: "/tests/core",
      time,
      contentType: "application/protobuf",
      traceparent,
    });
    expect(m.headers.get("ce-specversion")).toBe("1.0");
    expect(m.headers.get("Nats-Msg-Id")).toBe(sent.id);
    expect(m.headers.get("CE-ID")).toBe(sent.id);
    expect(m.headers.get("x-tenant")).toBe("t1");
  });

  it("gives every event its own id, also for the same subject", () => {
    const ids = new Set<string>();
    for (let i = 0; i < 1000; i++) ids.add(bus.publish("coze.ids.same", bytes(""), { type: "t" }).id);
    expect(ids.size).toBe(1000);
  });

  it("takes the traceparent from the tracing hook, and drops a malformed one", async () => {
    const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const traced = await openBus({ servers: server.url, env: {}, logger: memoryLogger(), traceparent: () => tp });
    try {
      const got: InboundMessage[] = [];
      await traced.subscribe("coze.trace.>", (m) => void got.push(m));
      traced.publish("coze.trace.a", bytes(""), { type: "t" });
      traced.publish("coze.trace.b", bytes(""), { type: "t", traceparent: "garbage" });
      await waitFor("both events", () => got.length === 2);
      expect(got[0]!.event?.traceparent).toBe(tp);
      expect(got[1]!.event?.traceparent).toBeUndefined();
    } finally {
      await traced.close();
    }
  });

  it("refuses to let application headers overwrite the contract's headers", () => {
    expect(() => bus.publish("coze.h.x", bytes(""), { type: "t", headers: { "Ce-Id": "forged" } })).toThrow(/set by cozebus itself/);
    expect(() => bus.publish("coze.h.x", bytes(""), { type: "" })).toThrow(/non-empty type/);
    // Header injection: a CR/LF in any value would forge further headers on the wire.
    expect(() => bus.publish("coze.h.x", bytes(""), { type: "t\r\nce-id: forged" })).toThrow(/cannot contain CR or LF/);
    expect(() => bus.publish("coze.h.x", bytes(""), { type: "t", source: "/a\nb" })).toThrow(/cannot contain CR or LF/);
    expect(() => bus.publish("coze.h.x", bytes(""), { type: "t", headers: { "x-app": "a\r\nb" } })).toThrow(/CR or LF/);
    expect(() => bus.publish("coze.h.x", bytes(""), { type: "t", headers: { "bad name": "v" } })).toThrow(/invalid header name/);
    expect(() => bus.publish("coze.h.x", bytes(""), { type: "t", id: "has space" })).toThrow(/printable ASCII/);
  });

  it("a subscription is live on the server as soon as subscribe() resolves", async () => {
    // A second connection publishes: if the interest were not registered yet, these would be lost.
    const other = await openBus({ servers: server.url, env: {}, logger: memoryLogger() });
    try {
      for (let round = 0; round < 20; round++) {
        let got = 0;
        const sub = await bus.subscribe(`coze.live.${round}`, () => void got++);
        other.publish(`coze.live.${round}`, bytes(""), { type: "t" });
        await waitFor(`round ${round}`, () => got === 1);
        sub.unsubscribe();
      }
    } finally {
      await other.close();
    }
  });
});

describe("handler failures never stop a subscription", () => {
  it("a handler that throws or rejects on every message still sees the next 1,000", async () => {
    errors.length = 0;
    let calls = 0;
    await bus.subscribe("coze.faulty.>", (m) => {
      calls++;
      if (m.subject.endsWith(".sync")) throw new Error("sync boom");
      return Promise.reject(new Error("async boom"));
    });
    for (let i = 0; i < 1000; i++) bus.publish(`coze.faulty.${i}.${i % 2 ? "sync" : "async"}`, bytes(String(i)), { type: "t" });
    await waitFor("1,000 handler calls", () => calls === 1000);
    await waitFor("1,000 reported errors", () => errors.length === 1000);
    expect(errors.every((e) => e instanceof HandlerError)).toBe(true);
    expect((errors[0] as HandlerError).subject).toBe("coze.faulty.0.async");
    expect(errors.filter((e) => e.message.endsWith("failed: sync boom")).length).toBe(500);
    // And the connection itself still works for requests afterwards.
    await bus.serve("coze.after.faults", () => bytes("alive"));
    expect(text((await bus.request("coze.after.faults", bytes(""), { type: "t" })).data)).toBe("alive");
  });

  it("an error hook that throws does not break delivery either", async () => {
    let calls = 0;
    await bus.subscribe(
      "coze.hookfail",
      () => {
        calls++;
        throw new Error("x");
      },
      { onError: () => { throw new Error("hook is broken too"); } },
    );
    for (let i = 0; i < 100; i++) bus.publish("coze.hookfail", bytes(""), { type: "t" });
    await waitFor("100 calls", () => calls === 100);
  });

  it("concurrency 1 keeps arrival order even with async handlers", async () => {
    const seen: number[] = [];
    await bus.subscribe("coze.order", async (m) => {
      await sleep(Number(text(m.data)) % 3);
      seen.push(Number(text(m.data)));
    });
    for (let i = 0; i < 200; i++) bus.publish("coze.order", bytes(String(i)), { type: "t" });
    await waitFor("200 in order", () => seen.length === 200);
    expect(seen).toEqual([...Array(200).keys()]);
  });

  it("a handler that falls behind beyond maxPending drops and reports, memory stays bounded", async () => {
    const dropped: Error[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let handled = 0;
    await bus.subscribe(
      "coze.slow",
      async () => {
        await gate;
        handled++;
      },
      { maxPending: 10, onError: (e) => void dropped.push(e) },
    );
    for (let i = 0; i < 50; i++) bus.publish("coze.slow", bytes(""), { type: "t" });
    await waitFor("drops", () => dropped.length === 39);
    release();
    await waitFor("the kept ones", () => handled === 11);
    expect(dropped.every((e) => e instanceof SlowConsumerError)).toBe(true);
  });
});

describe("queue groups", () => {
  it("members of a group split the messages; each message goes to exactly one", async () => {
    const counts = [0, 0, 0];
    const seen = new Set<string>();
    let duplicates = 0;
    const members = await Promise.all(
      counts.map(async (_, i) => {
        const b = await openBus({ servers: server.url, env: {}, logger: memoryLogger() });
        await b.subscribe("coze.qg.*", (m) => {
          counts[i]!++;
          if (seen.has(m.subject)) duplicates++;
          seen.add(m.subject);
        }, { queue: "workers" });
        return b;
      }),
    );
    let outside = 0;
    await bus.subscribe("coze.qg.*", () => void outside++);
    try {
      for (let i = 0; i < 3000; i++) bus.publish(`coze.qg.${i}`, bytes(""), { type: "t" });
      await waitFor("all 3,000 in the group", () => seen.size === 3000);
      await waitFor("all 3,000 outside it", () => outside === 3000);
      expect(duplicates).toBe(0);
      expect(counts.reduce((a, b) => a + b)).toBe(3000);
      // Random distribution: each of 3 members gets a real share (expected 1,000).
      for (const c of counts) expect(c).toBeGreaterThan(500);
    } finally {
      await Promise.all(members.map((m) => m.close()));
    }
  });
});

describe("request/reply", () => {
  it("returns the reply", async () => {
    await bus.serve("coze.rpc.echo", (req) => ({ data: req.data, headers: { "x-served": "yes" } }));
    const reply = await bus.request("coze.rpc.echo", bytes("ping"), { type: "t.Echo" });
    expect(text(reply.data)).toBe("ping");
    expect(reply.headers.get("x-served")).toBe("yes");
  });

  it("the server side sees the request's event attributes", async () => {
    let type: string | undefined;
    await bus.serve("coze.rpc.meta", (req) => {
      type = req.event?.type;
      return bytes("");
    });
    await bus.request("coze.rpc.meta", bytes(""), { type: "coze.agent.v1.RunTurnRequest" });
    expect(type).toBe("coze.agent.v1.RunTurnRequest");
  });

  it("no responders is a NoRespondersError naming the subject, at once", async () => {
    const started = Date.now();
    const err = await bus.request("coze.rpc.nobody", bytes(""), { type: "t", timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoRespondersError);
    expect((err as NoRespondersError).subject).toBe("coze.rpc.nobody");
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("a slow service is a RequestTimeoutError with the subject and timeout", async () => {
    await bus.serve("coze.rpc.slow", async () => {
      await sleep(1000);
      return bytes("late");
    });
    const err = await bus.request("coze.rpc.slow", bytes(""), { type: "t", timeoutMs: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as RequestTimeoutError).timeoutMs).toBe(100);
    expect((err as Error).message).toContain("coze.rpc.slow");
  });

  it("a failing service arrives as a RemoteError with its code and message, not a timeout", async () => {
    await bus.serve("coze.rpc.fail", (req) => {
      if (text(req.data) === "bad") throw new ServiceError(400, "agent_id is required");
      throw new Error("database down");
    });
    const bad = await bus.request("coze.rpc.fail", bytes("bad"), { type: "t" }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(RemoteError);
    expect((bad as RemoteError).remoteCode).toBe(400);
    expect((bad as RemoteError).remoteMessage).toBe("agent_id is required");
    const crash = await bus.request("coze.rpc.fail", bytes("x"), { type: "t" }).catch((e: unknown) => e);
    expect((crash as RemoteError).remoteCode).toBe(500);
    expect((crash as RemoteError).remoteMessage).toBe("database down");
  });

  it("a queue group of servers shares the requests", async () => {
    const served = [0, 0];
    await bus.serve("coze.rpc.shared", () => (served[0]!++, bytes("a")), { queue: "svc" });
    await bus.serve("coze.rpc.shared", () => (served[1]!++, bytes("b")), { queue: "svc" });
    for (let i = 0; i < 200; i++) await bus.request("coze.rpc.shared", bytes(""), { type: "t" });
    expect(served[0]! + served[1]!).toBe(200);
    expect(served[0]).toBeGreaterThan(0);
    expect(served[1]).toBeGreaterThan(0);
  });
});
