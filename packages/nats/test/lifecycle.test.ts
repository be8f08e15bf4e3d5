import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { startNatsCluster, startNatsServer, type NatsServer } from "@cozebus/testing";
import { ConnectionClosedError, DrainTimeoutError, NotConnectedError, ConfigError, connect, openBus, type Bus } from "../src/index.js";
import { bytes, memoryLogger, sleep, text, waitFor } from "./helpers.js";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

async function server(): Promise<NatsServer> {
  const s = await startNatsServer();
  cleanup.push(() => s.stop());
  return s;
}

async function bus(url: string, extra: Parameters<typeof openBus>[0] = {}): Promise<Bus> {
  const b = await openBus({ servers: url, env: {}, logger: memoryLogger(), reconnect: { waitMs: 100, jitterMs: 50 }, ...extra });
  cleanup.push(() => b.close());
  return b;
}

describe("reconnect", () => {
  it("comes back after a server restart, with events, and its subscriptions keep working", async () => {
    const s = await server();
    const b = await bus(s.url);
    const events: string[] = [];
    b.on("disconnected", () => void events.push("disconnected"));
    b.on("reconnecting", () => void (events.at(-1) !== "reconnecting" && events.push("reconnecting")));
    b.on("reconnected", () => void events.push("reconnected"));
    const got: string[] = [];
    await b.subscribe("coze.rc.>", (m) => void got.push(text(m.data)));

    const back = b.once("reconnected"); // listen first: the reconnect can beat the next line
    await s.restart("SIGKILL");
    await back;
    expect(events).toEqual(["disconnected", "reconnecting", "reconnected"]);
    expect(b.connected).toBe(true);
    b.publish("coze.rc.after", bytes("after restart"), { type: "t" });
    await waitFor("delivery after the restart", () => got.length === 1);
    expect(got).toEqual(["after restart"]);
  });

  it("refuses core publishes while disconnected instead of dropping them silently", async () => {
    const s = await server();
    const b = await bus(s.url);
    await s.kill("SIGKILL");
    await waitFor("the disconnect", () => !b.connected);
    expect(() => b.publish("coze.rc.lost", bytes(""), { type: "t" })).toThrow(NotConnectedError);
    const back = b.once("reconnected");
    await s.start();
    await back;
    expect(b.publish("coze.rc.ok", bytes(""), { type: "t" }).subject).toBe("coze.rc.ok");
  });

  it("keeps retrying for as long as the server is down (no attempt limit by default)", async () => {
    const s = await server();
    const b = await bus(s.url);
    let attempts = 0;
    b.on("reconnecting", () => void attempts++);
    await s.kill("SIGKILL");
    // nats.js gives up after 10 attempts per server by default; 100 ms waits make 10 attempts take about 1.5 s.
    await sleep(3000);
    expect(b.closed).toBe(false);
    const back = b.once("reconnected");
    await s.start();
    await back;
    expect(attempts).toBeGreaterThan(0);
  });

  it("fails over to another node of a 3-node cluster", async () => {
    const cluster = await startNatsCluster();
    cleanup.push(() => cluster.stop());
    const b = await bus(cluster.urls.join(","));
    const first = b.server.name;
    const got: string[] = [];
    await b.subscribe("coze.fo.x", (m) => void got.push(text(m.data)));
    const node = cluster.servers.find((n) => n.serverName === first);
    if (node === undefined) throw new Error(`connected to "${first}", but the cluster's nodes are ${cluster.servers.map((n) => n.serverName).join(", ")}`);
    const back = b.once("reconnected");
    await node.kill("SIGKILL");
    await back;
    expect(b.server.name).not.toBe(first);
    b.publish("coze.fo.x", bytes("after failover"), { type: "t" });
    await waitFor("delivery via another node", () => got.length === 1);
  });

  it("reports the closed event with the reason after close()", async () => {
    const s = await server();
    const b = await bus(s.url);
    const closed = b.once("closed");
    await b.close();
    expect((await closed).error).toBeUndefined();
    expect(() => b.publish("coze.x", bytes(""), { type: "t" })).toThrow(ConnectionClosedError);
    await expect(b.subscribe("coze.x", () => {})).rejects.toBeInstanceOf(ConnectionClosedError);
  });
});

describe("client workaround", () => {
  it("a write queued for a socket that just ended is dropped, not an uncaught exception", async () => {
    const s = await server();
    const b = await bus(s.url);
    // Reproduces the transport-node 3.4 race directly: the socket ends, then a flush writes to it.
    const transport = (b.nats as unknown as { protocol: { transport: { socket: { end(): void; removeAllListeners(): void }; send(f: Uint8Array): void } } }).protocol.transport;
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown): void => void uncaught.push(e);
    process.on("uncaughtException", onUncaught);
    try {
      transport.socket.removeAllListeners();
      transport.socket.end();
      transport.send(new TextEncoder().encode("PING\r\n"));
      await sleep(100);
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    expect(uncaught).toEqual([]);
  });
});

describe("drain", () => {
  it("waits for in-flight and queued handlers, and flushes what they publish", async () => {
    const s = await server();
    const worker = await bus(s.url);
    const observer = await bus(s.url);
    const followUps: string[] = [];
    await observer.subscribe("coze.drain.done.*", (m) => void followUps.push(m.subject));
    let finished = 0;
    await worker.subscribe(
      "coze.drain.work.*",
      async (m) => {
        await sleep(300);
        finished++;
        worker.publish(m.subject.replace("work", "done"), bytes(""), { type: "t" });
      },
      { concurrency: 2 },
    );
    for (let i = 0; i < 6; i++) observer.publish(`coze.drain.work.${i}`, bytes(""), { type: "t" });
    await observer.nats.flush();
    await waitFor("the first handlers to start", () => finished === 0 && worker.nats.stats().inMsgs >= 6);
    await worker.drain();
    expect(finished).toBe(6);
    expect(worker.closed).toBe(true);
    await waitFor("all follow-up events", () => followUps.length === 6);
  });

  it("gives up after its timeout with DrainTimeoutError, and still closes", async () => {
    const s = await server();
    const b = await bus(s.url);
    await b.subscribe("coze.stuck", () => new Promise<void>(() => undefined));
    b.publish("coze.stuck", bytes(""), { type: "t" });
    await waitFor("the stuck handler to start", () => b.nats.stats().inMsgs === 1);
    const err = await b.drain({ timeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DrainTimeoutError);
    expect((err as DrainTimeoutError).inFlight).toBe(1);
    expect(b.closed).toBe(true);
  });

  it("await using drains at the end of the scope", async () => {
    const s = await server();
    let finished = false;
    {
      await using b = await openBus({ servers: s.url, env: {}, logger: memoryLogger() });
      await b.subscribe("coze.scope", async () => {
        await sleep(200);
        finished = true;
      });
      b.publish("coze.scope", bytes(""), { type: "t" });
      await waitFor("the handler to start", () => b.nats.stats().inMsgs === 1);
    }
    expect(finished).toBe(true);
  });

  it("drainOnSignals: SIGTERM lets running handlers finish, then the process exits 0", async () => {
    const s = await server();
    const script = fileURLToPath(new URL("./fixtures/signal-worker.mjs", import.meta.url));
    const child = spawn(process.execPath, [script], { env: { ...process.env, NATS_SERVER_URL: s.url }, stdio: ["ignore", "pipe", "pipe"] });
    cleanup.push(() => Promise.resolve(void child.kill("SIGKILL")));
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    await waitFor("the worker to be ready", () => out.includes("ready"));
    const p = await bus(s.url);
    for (let i = 1; i <= 3; i++) p.publish("coze.signal.work", bytes(String(i)), { type: "t" });
    await waitFor("three handlers running", () => (out.match(/started/g) ?? []).length === 3);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect((out.match(/finished/g) ?? []).length).toBe(3);
    expect(out.indexOf("finished 3")).toBeLessThan(out.indexOf("drained"));
  });
});

describe("connect(): one shared connection per process", () => {
  it("returns the same bus, refuses different options, and reconnects after close", async () => {
    const s = await server();
    const a = await connect({ servers: s.url, env: {}, logger: memoryLogger(), name: "shared" });
    const b = await connect();
    const c = await connect({ servers: s.url, env: {}, logger: memoryLogger(), name: "shared" });
    expect(b).toBe(a);
    expect(c).toBe(a);
    const other = await server();
    await expect(connect({ servers: other.url, env: {}, name: "shared" })).rejects.toBeInstanceOf(ConfigError);
    await a.close();
    const d = await connect({ servers: other.url, env: {}, logger: memoryLogger(), name: "shared" });
    expect(d).not.toBe(a);
    await d.close();
  });
});
