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

/**
 * Raw nats.js (256 awaiting callers) against cozebus publishing the same `n`
 * events the way `ours` drives it, each side into its own fresh stream,
 * counted afterwards so a lost or doubled event fails the run.
 */
async function comparePublish(
  t: BenchTarget,
  n: number,
  rounds: number,
  bench: { readonly label: string; readonly key: string; readonly target?: string },
  ours: (publish: () => Promise<unknown>) => Promise<void>,
): Promise<BenchLine> {
  const nc: NatsConnection = await connect(t.raw);
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const bus: Bus = await openBus(t.ours);
  const cjs = await bus.jetstream({ maxInFlight: 256 });
  const [rawStream, oursStream, oursSubject] = [`COZEBUS_BENCH_RAW_${bench.key}`, `COZEBUS_BENCH_OURS_${bench.key}`, `cozebus_bench.ours.${bench.key.toLowerCase()}`];
  try {
    return await compare(
      bench.label,
      rounds,
      () => rawPublishRound(jsm, (subject) => js.publish(subject, PAYLOAD), rawStream, n),
      async () => {
        await freshStream(jsm, oursStream, oursSubject);
        const r = await rate(n, () => ours(() => cjs.publish(oursSubject, PAYLOAD, { type: "bench.Event" })));
        lossCheck("cozebus publish", await count(jsm, oursStream), n);
        return r;
      },
      bench.target,
    );
  } finally {
    await jsm.streams.delete(rawStream).catch(() => undefined);
    await jsm.streams.delete(oursStream).catch(() => undefined);
    await bus.close();
    await nc.close();
  }
}

/** JetStream publish, 128-byte payloads, every ack awaited, 256 in flight on both sides. */
export function benchPublish(t: BenchTarget, n: number, rounds: number): Promise<BenchLine> {
  // The same 256 concurrent callers as raw; the publisher's window is 256 too.
  return comparePublish(t, n, rounds, { label: "jetstream publish 128B, acks awaited, 256 in flight", key: "PUB", target: ">= 2x" }, (publish) => callers(256, n, publish));
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
export function benchPublishBurst(t: BenchTarget, n: number, rounds: number): Promise<BenchLine> {
  return comparePublish(t, n, rounds, { label: "jetstream publish 128B, all fired at once (publisher window 256)", key: "BURST" }, async (publish) => {
    await Promise.all(Array.from({ length: n }, publish));
  });
}
