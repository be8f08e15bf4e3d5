import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { openBus, type Bus } from "@cozebus/nats";
import { compare, lossCheck, rate, type BenchLine, type BenchTarget } from "./measure.js";

const PAYLOAD = new Uint8Array(128).fill(42);

async function freshStream(jsm: JetStreamManager, name: string, subject: string): Promise<void> {
  await jsm.streams.delete(name).catch(() => undefined);
  await jsm.streams.add({ name, subjects: [subject], max_bytes: 512 * 1024 ** 2 });
}

async function count(jsm: JetStreamManager, name: string): Promise<number> {
  return (await jsm.streams.info(name)).state.messages;
}

/** `width` concurrent callers, each awaiting one publish at a time, until `n` are done. */
async function callers(width: number, n: number, publishOne: () => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      await publishOne();
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
}

/** Raw nats.js: a sliding window of 256 outstanding js.publish calls, then the loss check. */
async function rawPublishRound(jsm: JetStreamManager, publish: (subject: string) => Promise<unknown>, stream: string, n: number): Promise<number> {
  const subject = `cozebus_bench.${stream.toLowerCase()}`;
  await freshStream(jsm, stream, subject);
  const r = await rate(n, () => callers(256, n, () => publish(subject)));
  lossCheck("raw publish", await count(jsm, stream), n);
  return r;
}

/** JetStream publish, 128-byte payloads, every ack awaited, 256 in flight on both sides. */
export async function benchPublish(t: BenchTarget, n: number, rounds: number): Promise<BenchLine> {
  const nc: NatsConnection = await connect(t.raw);
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const bus: Bus = await openBus(t.ours);
  const cjs = await bus.jetstream({ maxInFlight: 256 });
  try {
    return await compare(
      "jetstream publish 128B, acks awaited, 256 in flight",
      rounds,
      () => rawPublishRound(jsm, (subject) => js.publish(subject, PAYLOAD), "COZEBUS_BENCH_RAW_PUB", n),
      async () => {
        await freshStream(jsm, "COZEBUS_BENCH_OURS_PUB", "cozebus_bench.ours.pub");
        // The same 256 concurrent callers as raw; the publisher's window is 256 too.
        const r = await rate(n, () => callers(256, n, () => cjs.publish("cozebus_bench.ours.pub", PAYLOAD, { type: "bench.Event" })));
        lossCheck("cozebus publish", await count(jsm, "COZEBUS_BENCH_OURS_PUB"), n);
        return r;
      },
      ">= 2x",
    );
  } finally {
    await jsm.streams.delete("COZEBUS_BENCH_RAW_PUB").catch(() => undefined);
    await jsm.streams.delete("COZEBUS_BENCH_OURS_PUB").catch(() => undefined);
    await bus.close();
    await nc.close();
  }
}

/** JetStream consume + ack with a no-op handler: raw consume() + ack() versus a cozebus durable consumer. */
export async function benchConsume(t: BenchTarget, n: number, rounds: number): Promise<BenchLine> {
  const nc = await connect(t.raw);
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await freshStream(jsm, "COZEBUS_BENCH_CONSUME", "cozebus_bench.consume");
  const bus = await openBus(t.ours);
  const cjs = await bus.jetstream();
  const fill = await Promise.all(Array.from({ length: n }, () => cjs.publish("cozebus_bench.consume", PAYLOAD, { type: "bench.Event" })));
  lossCheck("prefill", fill.length, n);
  try {
    return await compare(
      "jetstream consume + ack, no-op handler",
      rounds,
      async (round) => {
        const name = `raw_${round}`;
        await jsm.consumers.add("COZEBUS_BENCH_CONSUME", { durable_name: name, ack_policy: AckPolicy.Explicit });
        const consumer = await js.consumers.get("COZEBUS_BENCH_CONSUME", name);
        const r = await rate(n, async () => {
          const messages = await consumer.consume();
          let got = 0;
          for await (const m of messages) {
            m.ack();
            if (++got === n) break;
          }
        });
        return r;
      },
      async (round) => {
        let got = 0;
        let done!: () => void;
        const finished = new Promise<void>((r) => (done = r));
        let stop: (() => Promise<void>) | undefined;
        const r = await rate(n, async () => {
          const c = await cjs.consume({ stream: "COZEBUS_BENCH_CONSUME", group: `ours_${round}` }, () => {
            if (++got === n) done();
          });
          stop = () => c.stop();
          await finished;
        });
        // Outside the timed part, as for raw (whose iterator is abandoned, not closed): a graceful
        // stop waits for the outstanding pull to expire on the server.
        await stop?.();
        return r;
      },
      ">= 0.85x",
    );
  } finally {
    await jsm.streams.delete("COZEBUS_BENCH_CONSUME").catch(() => undefined);
    await bus.close();
    await nc.close();
  }
}

/**
 * Informational: the same publish, but the caller fires every event at once
 * and lets the publisher's window (256) apply backpressure. Raw nats.js has
 * no window, so its side keeps 256 callers as above.
 */
export async function benchPublishBurst(t: BenchTarget, n: number, rounds: number): Promise<BenchLine> {
  const nc: NatsConnection = await connect(t.raw);
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const bus: Bus = await openBus(t.ours);
  const cjs = await bus.jetstream({ maxInFlight: 256 });
  try {
    return await compare(
      "jetstream publish 128B, all fired at once (publisher window 256)",
      rounds,
      () => rawPublishRound(jsm, (subject) => js.publish(subject, PAYLOAD), "COZEBUS_BENCH_RAW_BURST", n),
      async () => {
        await freshStream(jsm, "COZEBUS_BENCH_OURS_BURST", "cozebus_bench.ours.burst");
        const r = await rate(n, async () => {
          const pending: Array<Promise<unknown>> = [];
          for (let i = 0; i < n; i++) pending.push(cjs.publish("cozebus_bench.ours.burst", PAYLOAD, { type: "bench.Event" }));
          await Promise.all(pending);
        });
        lossCheck("cozebus publish", await count(jsm, "COZEBUS_BENCH_OURS_BURST"), n);
        return r;
      },
    );
  } finally {
    await jsm.streams.delete("COZEBUS_BENCH_RAW_BURST").catch(() => undefined);
    await jsm.streams.delete("COZEBUS_BENCH_OURS_BURST").catch(() => undefined);
    await bus.close();
    await nc.close();
  }
}
