import { spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { goneWithin } from "./process-state.js";
import {
  PulsarPrerequisiteError,
  createPulsarSecretKey,
  createPulsarToken,
  startPulsar,
  waitFor,
  type PulsarBroker,
} from "../src/index.js";

// A first run resolves ~200 jars from Maven Central before the broker starts.
const FIRST_START_MS = 15 * 60_000;

/** What the WebSocket producer answers for each message. */
interface Receipt {
  readonly result: string;
  readonly messageId: string;
  readonly context?: string;
  readonly errorMsg?: string;
}

/** What the WebSocket consumer delivers. */
interface Delivery {
  readonly messageId: string;
  readonly payload: string;
  readonly properties: Record<string, string>;
  readonly publishTime: string;
  readonly redeliveryCount: number;
  readonly key?: string;
}

/** A socket whose JSON frames queue up until a test takes them, so none is missed between two awaits. */
class Socket {
  readonly #queue: unknown[] = [];
  readonly #waiters: Array<(frame: unknown) => void> = [];

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data: WebSocket.RawData) => {
      const frame: unknown = JSON.parse(Buffer.from(data as Buffer).toString("utf8"));
      const waiter = this.#waiters.shift();
      if (waiter) waiter(frame);
      else this.#queue.push(frame);
    });
  }

  next<T>(what: string, timeoutMs = 20_000): Promise<T> {
    if (this.#queue.length > 0) return Promise.resolve(this.#queue.shift() as T);
    return new Promise<T>((resolve, reject) => {
      const waiter = (frame: unknown): void => {
        clearTimeout(timer);
        resolve(frame as T);
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1); // a late frame must go to the next taker, not to this one
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  send(frame: object): void {
    this.ws.send(JSON.stringify(frame));
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once("close", () => resolve());
      this.ws.close();
    });
  }
}

const sockets: Socket[] = [];

/** Opens a WebSocket, or rejects with the HTTP status the broker refused the upgrade with. */
function open(url: string, token?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
    ws.once("open", () => {
      const s = new Socket(ws);
      sockets.push(s);
      resolve(s);
    });
    ws.once("unexpected-response", (_req, res) => {
      res.resume();
      reject(new Error(`HTTP ${res.statusCode}`));
    });
    ws.once("error", reject);
  });
}

async function closeAll(): Promise<void> {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
}

const b64 = (text: string): string => Buffer.from(text).toString("base64");
const unb64 = (data: string): string => Buffer.from(data, "base64").toString("utf8");
let topicSeq = 0;
const newTopic = (label: string): string => `${label}-${process.pid}-${++topicSeq}`;

async function produce(p: Socket, frame: { payload: string; key?: string; properties?: Record<string, string>; context?: string }): Promise<Receipt> {
  p.send(frame);
  const receipt = await p.next<Receipt>("a producer receipt");
  expect(receipt.result, receipt.errorMsg).toBe("ok");
  return receipt;
}

interface SubscriptionStats {
  readonly msgBacklog: number;
  readonly unackedMessages: number;
}

async function subscriptionStats(broker: PulsarBroker, topic: string, sub: string): Promise<SubscriptionStats | undefined> {
  const res = await broker.admin(`/admin/v2/persistent/public/default/${topic}/stats`);
  if (!res.ok) return undefined;
  const stats = (await res.json()) as { subscriptions: Record<string, SubscriptionStats> };
  return stats.subscriptions[sub];
}

describe("startPulsar", () => {
  let broker: PulsarBroker;
  beforeAll(async () => {
    broker = await startPulsar();
  }, FIRST_START_MS);
  afterAll(async () => {
    await closeAll();
    await broker?.stop();
  });

  it("runs on random loopback ports in its own folder", async () => {
    expect(broker.serviceUrl).toMatch(/^pulsar:\/\/127\.0\.0\.1:\d+$/);
    expect(broker.webServiceUrl).toBe(`http://127.0.0.1:${broker.webPort}`);
    expect(broker.webSocketUrl).toBe(`ws://127.0.0.1:${broker.webPort}/ws/v2`);
    expect([broker.brokerPort, broker.webPort]).not.toContain(6650);
    expect([broker.brokerPort, broker.webPort]).not.toContain(8080);
    expect(new Set([broker.brokerPort, broker.webPort, broker.bookiePort]).size).toBe(3);
    // All three listeners, the embedded bookie's too, on loopback only.
    for (const port of [broker.brokerPort, broker.webPort, broker.bookiePort]) expect(listeners(port)).toEqual(["127.0.0.1"]);
    expect(existsSync(join(broker.dir, "data", "metadata"))).toBe(true);
    const clusters = (await (await broker.admin("/admin/v2/clusters")).json()) as string[];
    expect(clusters).toContain(broker.clusterName);
    expect(broker.logs()).toContain("PulsarService");
  });

  it("creates a topic through the admin REST API", async () => {
    const topic = newTopic("admin");
    const created = await broker.admin(`/admin/v2/persistent/public/default/${topic}`, { method: "PUT" });
    expect(created.status).toBe(204);
    const list = (await (await broker.admin("/admin/v2/persistent/public/default")).json()) as string[];
    expect(list).toContain(`persistent://public/default/${topic}`);
    const again = await broker.admin(`/admin/v2/persistent/public/default/${topic}`, { method: "PUT" });
    expect(again.status).toBe(409); // creating twice is a conflict, not a silent success
  });

  it("produces with a key and properties, consumes from a Shared subscription and acks by messageId", async () => {
    const topic = newTopic("roundtrip");
    const c = await open(`${broker.webSocketUrl}/consumer/persistent/public/default/${topic}/workers?subscriptionType=Shared`);
    const p = await open(`${broker.webSocketUrl}/producer/persistent/public/default/${topic}`);
    const receipt = await produce(p, { payload: b64("hello"), key: "wf-1", properties: { "ce-type": "test.v1.Hello", n: "1" }, context: "ctx-1" });
    expect(receipt.context).toBe("ctx-1"); // echoed: how a producer matches receipts to sends
    expect(receipt.messageId).toMatch(/^[A-Za-z0-9+/]+=*$/); // base64 of the binary MessageIdData

    const m = await c.next<Delivery>("the message");
    expect(m.messageId).toBe(receipt.messageId);
    expect(unb64(m.payload)).toBe("hello");
    expect(m.key).toBe("wf-1");
    expect(m.properties).toEqual({ "ce-type": "test.v1.Hello", n: "1" });
    expect(m.redeliveryCount).toBe(0);
    c.send({ messageId: m.messageId });
    // The WebSocket API sends nothing back for an ack: the broker's stats show it landed.
    await waitFor("the ack to reach the subscription", async () => (await subscriptionStats(broker, topic, "workers"))?.msgBacklog === 0);

    // A new consumer on the same subscription gets only what was not acked.
    await c.close();
    const c2 = await open(`${broker.webSocketUrl}/consumer/persistent/public/default/${topic}/workers?subscriptionType=Shared`);
    await produce(p, { payload: b64("second") });
    const m2 = await c2.next<Delivery>("the second message");
    expect(unb64(m2.payload)).toBe("second");
    c2.send({ messageId: m2.messageId });
  });

  it("redelivers a negatively acknowledged message with a higher redeliveryCount", async () => {
    const topic = newTopic("nack");
    const c = await open(`${broker.webSocketUrl}/consumer/persistent/public/default/${topic}/workers?subscriptionType=Shared&negativeAckRedeliveryDelay=100`);
    const p = await open(`${broker.webSocketUrl}/producer/persistent/public/default/${topic}`);
    const receipt = await produce(p, { payload: b64("retry me"), key: "k" });
    const first = await c.next<Delivery>("the first delivery");
    expect(first.redeliveryCount).toBe(0);
    c.send({ type: "negativeAcknowledge", messageId: first.messageId });
    const second = await c.next<Delivery>("the redelivery");
    expect(second.messageId).toBe(receipt.messageId);
    expect(second.redeliveryCount).toBe(1);
    expect(unb64(second.payload)).toBe("retry me");
    c.send({ messageId: second.messageId });
    await waitFor("the ack", async () => (await subscriptionStats(broker, topic, "workers"))?.msgBacklog === 0);
  });

  it("moves a message to the dead-letter topic once maxRedeliverCount is used up", async () => {
    const topic = newTopic("dlq");
    const dlq = `${topic}-DLQ`;
    const d = await open(`${broker.webSocketUrl}/consumer/persistent/public/default/${dlq}/audit?subscriptionType=Shared`);
    const c = await open(
      `${broker.webSocketUrl}/consumer/persistent/public/default/${topic}/workers?subscriptionType=Shared` +
        `&negativeAckRedeliveryDelay=100&maxRedeliverCount=1&deadLetterTopic=persistent://public/default/${dlq}`,
    );
    const p = await open(`${broker.webSocketUrl}/producer/persistent/public/default/${topic}`);
    await produce(p, { payload: b64("poison"), key: "k", properties: { a: "1" } });
    // maxRedeliverCount=1: delivered twice (counts 0 and 1), then the next redelivery goes to the dead letters.
    for (const expected of [0, 1]) {
      const m = await c.next<Delivery>(`delivery ${expected}`);
      expect(m.redeliveryCount).toBe(expected);
      c.send({ type: "negativeAcknowledge", messageId: m.messageId });
    }
    const dead = await d.next<Delivery>("the dead letter");
    expect(unb64(dead.payload)).toBe("poison");
    expect(dead.key).toBe("k");
    expect(dead.properties["a"]).toBe("1");
    expect(dead.properties["REAL_TOPIC"]).toBe(`persistent://public/default/${topic}`);
    expect(dead.properties["ORIGIN_MESSAGE_ID"]).toMatch(/^\d+:\d+:-?\d+$/);
    d.send({ messageId: dead.messageId });
    await waitFor("the dead-lettered message to leave the subscription", async () => (await subscriptionStats(broker, topic, "workers"))?.msgBacklog === 0);
  });

  it("keeps its topics and unacked messages across a crash and restart", async () => {
    const topic = newTopic("durable");
    await closeAll();
    expect((await broker.admin(`/admin/v2/persistent/public/default/${topic}/subscription/workers`, { method: "PUT" })).status).toBe(204);
    const p = await open(`${broker.webSocketUrl}/producer/persistent/public/default/${topic}`);
    const receipt = await produce(p, { payload: b64("survives"), key: "k" });
    await closeAll();
    const pid = broker.pid;
    await broker.kill("SIGKILL");
    expect(broker.running).toBe(false);
    await broker.start();
    expect(broker.pid).not.toBe(pid);
    const c = await open(`${broker.webSocketUrl}/consumer/persistent/public/default/${topic}/workers?subscriptionType=Shared`);
    const m = await c.next<Delivery>("the message written before the crash", 60_000);
    expect(m.messageId).toBe(receipt.messageId);
    expect(unb64(m.payload)).toBe("survives");
    c.send({ messageId: m.messageId });
  }, FIRST_START_MS);
});

describe("startPulsar({ auth: true })", () => {
  let broker: PulsarBroker;
  beforeAll(async () => {
    broker = await startPulsar({ auth: true });
  }, FIRST_START_MS);
  afterAll(async () => {
    await closeAll();
    await broker?.stop();
  });

  it("refuses a missing, wrongly signed or expired token on the WebSocket and admin APIs", async () => {
    const url = `${broker.webSocketUrl}/producer/persistent/public/default/${newTopic("refused")}`;
    const wrongKey = createPulsarToken(createPulsarSecretKey(), broker.auth!.superUserRole);
    const expired = broker.auth!.createToken(broker.auth!.superUserRole, { expiresInSeconds: -60 });
    await expect(open(url)).rejects.toThrow("HTTP 401");
    await expect(open(url, wrongKey)).rejects.toThrow("HTTP 401");
    await expect(open(url, expired)).rejects.toThrow("HTTP 401");
    expect((await fetch(`${broker.webServiceUrl}/admin/v2/clusters`)).status).toBe(401);
    expect((await fetch(`${broker.webServiceUrl}/admin/v2/clusters`, { headers: { authorization: `Bearer ${wrongKey}` } })).status).toBe(401);
    expect((await broker.admin("/admin/v2/clusters")).status).toBe(200);
    // The bookie logs its whole config at start-up: the secrets are in files it only names.
    expect(broker.logs()).not.toContain(broker.auth!.superUserToken);
    expect(broker.logs()).not.toContain(Buffer.from(broker.auth!.secretKey).toString("base64"));
  });

  it("serves a role only what it was granted on a topic", async () => {
    const topic = newTopic("granted");
    const other = newTopic("not-granted");
    for (const t of [topic, other]) expect((await broker.admin(`/admin/v2/persistent/public/default/${t}`, { method: "PUT" })).status).toBe(204);
    const grant = await broker.admin(`/admin/v2/persistent/public/default/${topic}/permissions/order-service`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(["produce", "consume"]),
    });
    expect(grant.status).toBe(204);
    const app = broker.auth!.createToken("order-service");
    const stranger = broker.auth!.createToken("someone-else");

    await expect(open(`${broker.webSocketUrl}/producer/persistent/public/default/${topic}`, stranger)).rejects.toThrow("HTTP 403");
    await expect(open(`${broker.webSocketUrl}/consumer/persistent/public/default/${topic}/s?subscriptionType=Shared`, stranger)).rejects.toThrow("HTTP 403");
    await expect(open(`${broker.webSocketUrl}/producer/persistent/public/default/${other}`, app)).rejects.toThrow("HTTP 403");
    expect((await fetch(`${broker.webServiceUrl}/admin/v2/persistent/public/default/${topic}`, { method: "DELETE", headers: { authorization: `Bearer ${app}` } })).status).toBe(403);

    const c = await open(`${broker.webSocketUrl}/consumer/persistent/public/default/${topic}/s?subscriptionType=Shared`, app);
    const p = await open(`${broker.webSocketUrl}/producer/persistent/public/default/${topic}`, app);
    await produce(p, { payload: b64("authorized"), key: "k" });
    const m = await c.next<Delivery>("the message");
    expect(unb64(m.payload)).toBe("authorized");
    c.send({ messageId: m.messageId });
  });
});

describe("startPulsar prerequisites and helpers", () => {
  it("a missing java is a PulsarPrerequisiteError naming the command that installs it", async () => {
    const err: unknown = await startPulsar({ java: "/nonexistent/bin/java" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PulsarPrerequisiteError);
    expect((err as PulsarPrerequisiteError).tool).toBe("java");
    expect((err as Error).message).toMatch(/\/nonexistent\/bin\/java.*apt-get install openjdk-17-jre-headless/);
  });

  it("a missing mvn, with nothing cached yet, is a PulsarPrerequisiteError naming the command that installs it", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "cozebus-pulsar-cache-"));
    try {
      const err: unknown = await startPulsar({ maven: "/nonexistent/bin/mvn", cacheDir, onProgress: () => undefined }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PulsarPrerequisiteError);
      expect((err as PulsarPrerequisiteError).tool).toBe("mvn");
      expect((err as Error).message).toMatch(/apt-get install maven/);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it("a bad size option is refused before anything starts", async () => {
    await expect(startPulsar({ maxHeapMb: 0.5 })).rejects.toThrow(/maxHeapMb must be a positive integer/);
  });

  it("createPulsarToken makes an HS256 JWT whose sub is the role", () => {
    const key = createPulsarSecretKey();
    expect(key.length).toBe(32);
    const [header, claims, signature] = createPulsarToken(key, "svc-a", { expiresInSeconds: 60 }).split(".");
    expect(JSON.parse(Buffer.from(header!, "base64url").toString())).toEqual({ alg: "HS256" });
    const body = JSON.parse(Buffer.from(claims!, "base64url").toString()) as { sub: string; exp: number };
    expect(body.sub).toBe("svc-a");
    expect(body.exp).toBeGreaterThan(Date.now() / 1000);
    expect(signature).toBe(createHmac("sha256", key).update(`${header}.${claims}`).digest("base64url"));
    expect(() => createPulsarToken(key, "")).toThrow(/non-empty role/);
  });

  it("a broker left running when the process exits is killed and its folder deleted", async () => {
    const dist = fileURLToPath(new URL("../dist/index.js", import.meta.url));
    const script = `const { startPulsar } = await import(${JSON.stringify(dist)}); const b = await startPulsar(); console.log(JSON.stringify({ dir: b.dir, pid: b.pid })); process.exit(0);`;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 5 * 60_000 });
    expect(run.status, run.stderr).toBe(0);
    const { dir, pid } = JSON.parse(run.stdout.trim().split("\n").pop()!) as { dir: string; pid: number };
    expect(pid).toBeGreaterThan(0);
    expect(existsSync(dir)).toBe(false);
    expect(await goneWithin(pid, 10_000)).toBe(true);
  }, 6 * 60_000);
});

/** The IPv4 addresses listening on a TCP port, from /proc/net/tcp (the harness runs on Linux). */
function listeners(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  return readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols[3] === "0A" && cols[1]?.endsWith(`:${hexPort}`)) // 0A: LISTEN
    .map((cols) => {
      const hex = cols[1]!.split(":")[0]!;
      return [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join("."); // little-endian
    });
}

