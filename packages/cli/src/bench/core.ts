import { connect, headers } from "@nats-io/transport-node";
import { HEADER, PROTOBUF, openBus } from "@cozebus/nats";
import { compare, lossCheck, rate, type BenchLine, type BenchTarget } from "./measure.js";

const PAYLOAD = new Uint8Array(128).fill(42);
/** Core is at-most-once: a round that has not seen every message by then reports the loss instead of hanging. */
const ROUND_TIMEOUT_MS = 30_000;

function waitFor(n: number, count: () => number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ROUND_TIMEOUT_MS;
    const tick = (): void => {
      if (count() >= n) resolve();
      else if (Date.now() > deadline) reject(new Error(`${what}: ${count()} of ${n} messages arrived within ${ROUND_TIMEOUT_MS} ms`));
      else setTimeout(tick, 1);
    };
    tick();
  });
}

/**
 * Core publish -> subscribe on one connection, 128-byte payloads. Raw
 * nats.js sends the same CloudEvents headers cozebus sends (built per
 * message, as a raw user would), so the ratio measures cozebus's own cost.
 */
export async function benchCore(t: BenchTarget, n: number, rounds: number): Promise<BenchLine> {
  const nc = await connect(t.raw);
  const bus = await openBus(t.ours);
  try {
    return await compare(
      "core publish -> subscribe 128B, CloudEvents headers",
      rounds,
      async (round) => {
        const subject = `cozebus_bench.core.raw.${round}`;
        let got = 0;
        const sub = nc.subscribe(subject, { callback: () => void got++ });
        await nc.flush();
        const r = await rate(n, async () => {
          for (let i = 0; i < n; i++) {
            const h = headers();
            h.set(HEADER.id, `raw-${round}-${i}`);
            h.set(HEADER.msgId, `raw-${round}-${i}`);
            h.set(HEADER.type, "bench.Event");
            h.set(HEADER.source, "bench");
            h.set(HEADER.specversion, "1.0");
            h.set(HEADER.time, new Date().toISOString());
            h.set(HEADER.contentType, PROTOBUF);
            nc.publish(subject, PAYLOAD, { headers: h });
          }
          await waitFor(n, () => got, "raw core");
        });
        sub.unsubscribe();
        lossCheck("raw core", got, n);
        return r;
      },
      async (round) => {
        const subject = `cozebus_bench.core.ours.${round}`;
        let got = 0;
        const sub = await bus.subscribe(subject, () => void got++);
        const r = await rate(n, async () => {
          for (let i = 0; i < n; i++) bus.publish(subject, PAYLOAD, { type: "bench.Event" });
          await waitFor(n, () => got, "cozebus core");
        });
        await sub.drain();
        lossCheck("cozebus core", got, n);
        return r;
      },
      ">= 0.9x",
    );
  } finally {
    await bus.close();
    await nc.close();
  }
}
