/**
 * Pulsar benchmarks: cozebus's Pulsar path (typed EventClient on
 * PulsarTransport) against raw WebSocket-API code written here with `ws`,
 * on the same broker in the same process, rounds alternating. The raw side
 * is what a careful user would write without cozebus: one producer socket,
 * pipelined sends with a `context` each receipt echoes, the same CloudEvents
 * properties; one consumer socket that acks every message.
 */
import { randomUUID } from "node:crypto";
import { EventClient, type Codec, type EventDef } from "@cozebus/core";
import { connectPulsar, type PulsarOptions, type PulsarTransport } from "@cozebus/pulsar";
import WebSocket from "ws";
import { compare, lossCheck, rate, type BenchLine } from "./measure.js";

const PAYLOAD = new Uint8Array(128).fill(42);
/** Sends in flight at once on both sides (ours: that many awaiting callers; raw: a window of that many receipts). */
const IN_FLIGHT = 256;
/** A round that has not finished by then fails instead of hanging. */
const ROUND_TIMEOUT_MS = 60_000;

/** Where both sides connect: the same broker, namespace and token. */
export interface PulsarBenchTarget {
  readonly ours: PulsarOptions;
  /** `http://host:port` of the web service (REST). */
  readonly web: string;
  readonly tenant: string;
  readonly namespace: string;
  readonly token: string | undefined;
  readonly ca: string | undefined;
}

/** A bench event: its subject field and its bytes. */
interface BenchMessage {
  readonly id: string;
  readonly data: Uint8Array;
}

/** The bytes are the payload as they are: the benchmark measures the transport, not protobuf. */
const bytes: Codec<BenchMessage> = {
  encode: (m) => ({ finish: () => m.data }),
  decode: (data) => ({ id: "", data }),
  fromPartial: (m: BenchMessage) => m,
  toJSON: (m) => Buffer.from(m.data).toString("base64"),
  fromJSON: (j) => ({ id: "", data: new Uint8Array(Buffer.from(String(j), "base64")) }),
};

/** An event type of the bench domain whose topic is `coze.cozebench.<name>` (its one field, after the domain, is the key). */
function benchEvent(name: string): EventDef<Codec<BenchMessage>> {
  return { type: "coze.cozebench.v1.Event", subject: `coze.cozebench.{id}.${name}`, fields: { id: "id" }, qos: "at-least-once", codec: bytes };
}

const message = (i: number): BenchMessage => ({ id: `k${i % 64}`, data: PAYLOAD });

const headers = (t: PulsarBenchTarget): Record<string, string> => (t.token !== undefined ? { authorization: `Bearer ${t.token}` } : {});
const topicPath = (t: PulsarBenchTarget, local: string): string => `persistent/${encodeURIComponent(t.tenant)}/${encodeURIComponent(t.namespace)}/${encodeURIComponent(local)}`;
const wsBase = (t: PulsarBenchTarget): string => t.web.replace(/^http/, "ws");

async function rest(t: PulsarBenchTarget, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${t.web}${path}`, {
    method,
    headers: { ...headers(t), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(10_000),
  });
}

/** Messages stored on a topic so far (the broker's counter), polled briefly since stats lag the receipts a little. */
async function stored(t: PulsarBenchTarget, local: string, expect: number): Promise<number> {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    const res = await rest(t, "GET", `/admin/v2/${topicPath(t, local)}/stats`);
    last = res.ok ? ((await res.json()) as { msgInCounter?: number }).msgInCounter ?? 0 : -1;
    if (last === expect) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}

async function deleteTopic(t: PulsarBenchTarget, local: string): Promise<void> {
  await rest(t, "DELETE", `/admin/v2/${topicPath(t, local)}?force=true`).catch(() => undefined);
}

async function subscribeAtEarliest(t: PulsarBenchTarget, local: string, subscription: string): Promise<void> {
  // The position is the body (a message id; -1:-1 is the earliest): the REST API ignores a messageId query parameter and starts at the latest.
  const res = await rest(t, "PUT", `/admin/v2/${topicPath(t, local)}/subscription/${encodeURIComponent(subscription)}`, { ledgerId: -1, entryId: -1, partitionIndex: -1 });
  if (res.status !== 204 && res.status !== 409) throw new Error(`creating subscription ${subscription} on ${local}: HTTP ${res.status} ${await res.text()}`);
}

function openSocket(t: PulsarBenchTarget, path: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${wsBase(t)}/ws/v2/${path}`, { headers: headers(t), ...(t.ca !== undefined ? { ca: t.ca } : {}) });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function closeSocket(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve();
    ws.once("close", () => resolve());
    ws.close();
  });
}

/** Raw: `n` sends on one producer socket with the CloudEvents properties, at most IN_FLIGHT unreceipted; resolves when every receipt is ok. */
function rawPublish(ws: WebSocket, n: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let sent = 0;
    let receipted = 0;
    const timer = setTimeout(() => reject(new Error(`raw publish: ${receipted} of ${n} receipts within ${ROUND_TIMEOUT_MS} ms`)), ROUND_TIMEOUT_MS);
    const payload = Buffer.from(PAYLOAD).toString("base64");
    const sendOne = (): void => {
      const i = sent++;
      const id = randomUUID();
      ws.send(
        JSON.stringify({
          payload,
          key: `k${i % 64}`,
          properties: { "ce-id": id, "ce-type": "coze.cozebench.v1.Event", "ce-source": "bench", "ce-specversion": "1.0", "ce-time": new Date().toISOString(), "content-type": "application/protobuf", "ce-subject": `coze.cozebench.k${i % 64}.raw` },
          context: String(i),
        }),
      );
    };
    ws.on("message", (data: WebSocket.RawData) => {
      const r = JSON.parse((data as Buffer).toString("utf8")) as { result?: string; errorMsg?: string };
      if (r.result !== "ok") {
        clearTimeout(timer);
        reject(new Error(`raw publish: ${r.result ?? "?"} ${r.errorMsg ?? ""}`));
        return;
      }
      if (++receipted === n) {
        clearTimeout(timer);
        resolve();
      } else if (sent < n) sendOne();
    });
    ws.on("close", () => reject(new Error("raw publish: socket closed")));
    while (sent < Math.min(n, IN_FLIGHT)) sendOne();
  });
}

/** `width` concurrent callers, each awaiting one publish at a time, until `n` are done. */
async function callers(width: number, n: number, publishOne: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await publishOne(next++);
  };
  await Promise.all(Array.from({ length: width }, worker));
}

/**
 * Publish, 128-byte payloads, every receipt awaited, 256 in flight: typed
 * EventClient.publish (encode, subject from the fields, CloudEvents
 * properties, the transport's pipelined producer) against raw WebSocket
 * sends with the same properties. Each round into a fresh topic, whose
 * stored count is checked so a lost or doubled event fails the run.
 */
export async function benchPulsarPublish(t: PulsarBenchTarget, n: number, rounds: number): Promise<BenchLine> {
  const transport: PulsarTransport = await connectPulsar(t.ours);
  const topics: string[] = [];
  try {
    const raw = async (round: number | string): Promise<number> => {
      const local = `coze.cozebench.pub_raw_${round}`;
      topics.push(local);
      let ws: WebSocket | undefined;
      // The socket opens inside the timed part, as cozebus's producer opens on its first publish; both close outside it.
      const r = await rate(n, async () => {
        ws = await openSocket(t, `producer/${topicPath(t, local)}`);
        await rawPublish(ws, n);
      });
      if (ws) await closeSocket(ws);
      lossCheck("raw publish", await stored(t, local, n), n);
      return r;
    };
    const ours = async (round: number | string): Promise<number> => {
      const name = `pub_ours_${round}`;
      topics.push(`coze.cozebench.${name}`);
      const client = new EventClient(transport, "cozebench", benchEvent(name));
      const r = await rate(n, () => callers(IN_FLIGHT, n, (i) => client.publish(message(i))));
      lossCheck("cozebus publish", await stored(t, `coze.cozebench.${name}`, n), n);
      return r;
    };
    // One untimed round each first: the broker's JIT warms up on both paths before anything is measured.
    await raw("warmup");
    await ours("warmup");
    return await compare("pulsar publish 128B, receipts awaited, 256 in flight", rounds, raw, ours);
  } finally {
    await transport.close();
    for (const local of topics) await deleteTopic(t, local);
  }
}

/** Raw: one Shared consumer socket (receiverQueueSize 1000) that base64-decodes and acks every message; resolves at `n`. */
async function rawConsume(t: PulsarBenchTarget, local: string, subscription: string, n: number, opened: (ws: WebSocket) => void): Promise<void> {
  const ws = await openSocket(t, `consumer/${topicPath(t, local)}/${encodeURIComponent(subscription)}?subscriptionType=Shared&receiverQueueSize=1000`);
  opened(ws);
  await new Promise<void>((resolve, reject) => {
    let got = 0;
    const timer = setTimeout(() => reject(new Error(`raw consume: ${got} of ${n} within ${ROUND_TIMEOUT_MS} ms`)), ROUND_TIMEOUT_MS);
    ws.on("message", (data: WebSocket.RawData) => {
      const m = JSON.parse((data as Buffer).toString("utf8")) as { messageId: string; payload: string; properties?: Record<string, string> };
      Buffer.from(m.payload, "base64");
      ws.send(JSON.stringify({ messageId: m.messageId }));
      if (++got === n) {
        clearTimeout(timer);
        resolve();
      }
    });
    ws.on("close", () => reject(new Error("raw consume: socket closed")));
  });
}

/**
 * Consume + ack with a no-op handler, from a topic prefilled with `n`
 * events: a raw WebSocket consumer against a typed EventClient
 * subscription, each round on a fresh subscription created at the earliest
 * message. Both sides hold up to 1000 unacked (raw: receiverQueueSize 1000;
 * cozebus: concurrency 500, its receiver queue being twice that).
 */
export async function benchPulsarConsume(t: PulsarBenchTarget, n: number, rounds: number): Promise<BenchLine> {
  const transport: PulsarTransport = await connectPulsar(t.ours);
  const def = benchEvent("consume");
  const local = "coze.cozebench.consume";
  const client = new EventClient(transport, "cozebench", def);
  try {
    await deleteTopic(t, local);
    await callers(IN_FLIGHT, n, (i) => client.publish(message(i)));
    lossCheck("prefill", await stored(t, local, n), n);
    const raw = async (round: number | string): Promise<number> => {
      await subscribeAtEarliest(t, local, `raw_${round}`);
      let ws: WebSocket | undefined;
      const r = await rate(n, () => rawConsume(t, local, `raw_${round}`, n, (w) => (ws = w)));
      if (ws) await closeSocket(ws);
      return r;
    };
    const ours = async (round: number | string): Promise<number> => {
      await subscribeAtEarliest(t, local, `ours_${round}`);
      let got = 0;
      let done!: () => void;
      const finished = new Promise<void>((r) => (done = r));
      let stop: (() => Promise<void>) | undefined;
      const r = await rate(n, async () => {
        const sub = await client.subscribe(() => {
          if (++got === n) done();
        }, { group: `ours_${round}`, concurrency: 500 });
        stop = () => sub.stop();
        await Promise.race([finished, new Promise((_, reject) => setTimeout(() => reject(new Error(`cozebus consume: ${got} of ${n} within ${ROUND_TIMEOUT_MS} ms`)), ROUND_TIMEOUT_MS).unref())]);
      });
      // Outside the timed part, as raw's socket close is: a graceful stop settles what is in flight.
      await stop?.();
      lossCheck("cozebus consume", got, n);
      return r;
    };
    await raw("warmup");
    await ours("warmup");
    return await compare("pulsar consume + ack, no-op handler", rounds, raw, ours);
  } finally {
    await transport.close();
    await deleteTopic(t, local);
    await deleteTopic(t, "coze.cozebench-DLQ");
  }
}
