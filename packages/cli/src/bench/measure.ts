import type { BusOptions } from "@cozebus/nats";
import type { ConnectionOptions } from "@nats-io/transport-node";

/** Where both sides connect: the same servers, auth and TLS, as cozebus options and as raw nats.js options. */
export interface BenchTarget {
  readonly ours: BusOptions;
  readonly raw: ConnectionOptions;
}

/** One benchmark line: `{"bench","ours","raw","unit","ratio"}`. */
export interface BenchLine {
  readonly bench: string;
  readonly ours: number;
  readonly raw: number;
  readonly unit: string;
  readonly ratio: number;
  readonly target?: string;
  readonly rounds?: number;
  /** Messages per round when the benchmark used fewer than asked (large payloads). */
  readonly messages?: number;
  /** What the "raw" column measured when it is not raw nats.js (e.g. the same consumer without an inbox). */
  readonly baseline?: string;
  /** What the "ours" column measured when it is not plain cozebus. */
  readonly oursLabel?: string;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

/** Throughput in messages per second of an async job that handles `n` messages. */
export async function rate(n: number, job: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await job();
  return n / ((performance.now() - t0) / 1000);
}

/**
 * Runs raw and ours alternately for `rounds` rounds (so drift on a shared
 * machine hits both), swapping which goes first each round, and reports the
 * medians and their ratio.
 */
export async function compare(
  bench: string,
  rounds: number,
  raw: (round: number) => Promise<number>,
  ours: (round: number) => Promise<number>,
  target?: string,
): Promise<BenchLine> {
  const r: number[] = [];
  const o: number[] = [];
  for (let i = 0; i < rounds; i++) {
    // Which side goes first alternates too: garbage one side leaves behind is collected during the next one.
    if (i % 2 === 0) {
      r.push(await raw(i));
      o.push(await ours(i));
    } else {
      o.push(await ours(i));
      r.push(await raw(i));
    }
  }
  const rawM = median(r);
  const oursM = median(o);
  return {
    bench,
    ours: Math.round(oursM),
    raw: Math.round(rawM),
    unit: "msg/s",
    ratio: Number((oursM / rawM).toFixed(2)),
    ...(target !== undefined ? { target } : {}),
    rounds,
  };
}

/** A benchmark that lost or doubled messages measured nothing: it fails loudly instead of printing a number. */
export function lossCheck(what: string, got: number, n: number): void {
  if (got !== n) throw new Error(`${what}: ${got} messages arrived or were stored, ${n} were sent: loss or duplication`);
}
