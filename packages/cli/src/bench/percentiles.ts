import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

/** Latency of one side at one offered rate, in milliseconds from each event's scheduled send time. */
export interface Percentiles {
  readonly sent: number;
  readonly received: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  /** This process's event-loop delay during the run (p99, ms): how long a ready callback waited for the loop. */
  readonly loopDelayP99?: number;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Nearest-rank percentiles of the first `count` samples (sorted in place). */
export function percentiles(samples: Float64Array, count: number, sent: number): Percentiles {
  const s = samples.subarray(0, count).sort();
  const at = (q: number): number => (count === 0 ? Number.NaN : round3(s[Math.min(count - 1, Math.ceil(q * count) - 1)]!));
  return { sent, received: count, p50: at(0.5), p99: at(0.99), p999: at(0.999), max: count === 0 ? Number.NaN : round3(s[count - 1]!) };
}

/**
 * Records each event once, by index, with its latency from the time it was
 * due: a sender that fell behind is charged for it (no coordinated omission).
 * A redelivered index is not counted twice.
 */
export class Recorder {
  readonly #lat: Float64Array;
  readonly #seen: Uint8Array;
  #count = 0;
  #done: (() => void) | undefined;
  readonly all: Promise<void>;

  constructor(readonly expected: number) {
    this.#lat = new Float64Array(expected);
    this.#seen = new Uint8Array(expected);
    this.all = new Promise<void>((resolve) => (this.#done = resolve));
    if (expected === 0) this.#done?.();
  }

  get count(): number {
    return this.#count;
  }

  record(index: number, dueMs: number): void {
    if (index < 0 || index >= this.expected || this.#seen[index] === 1) return;
    this.#seen[index] = 1;
    this.#lat[this.#count++] = performance.now() - dueMs;
    if (this.#count === this.expected) this.#done?.();
  }

  /** Resolves when every event arrived; rejects naming the shortfall after `timeoutMs`. */
  async wait(what: string, timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: ${this.#count} of ${this.expected} events arrived within ${timeoutMs} ms of the last send: loss`)), timeoutMs);
    });
    try {
      await Promise.race([this.all, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  summary(sent: number, loop?: IntervalHistogram): Percentiles {
    const p = percentiles(this.#lat, this.#count, sent);
    return loop === undefined ? p : { ...p, loopDelayP99: round3(loop.percentile(99) / 1e6) };
  }
}

/**
 * Calls `send(i, due)` for `rate * seconds` events, event i due at
 * start + i / rate. A timer wakes the sender about once a millisecond and it
 * sends everything due by then (at 10k ev/s, ~10 per wake), so the offered
 * rate holds even when a wake comes late.
 */
export function fixedRate(rate: number, seconds: number, send: (index: number, dueMs: number) => void): Promise<number> {
  const n = Math.max(1, Math.round(rate * seconds));
  const interval = 1000 / rate;
  const t0 = performance.now() + 2;
  let i = 0;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      try {
        const now = performance.now();
        while (i < n && t0 + i * interval <= now) {
          send(i, t0 + i * interval);
          i++;
        }
        if (i >= n) resolve(n);
        else setTimeout(tick, Math.max(0, Math.min(1, t0 + i * interval - now)));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    };
    setTimeout(tick, 0);
  });
}

/** An event-loop delay histogram for the duration of one run. */
export function loopMonitor(): IntervalHistogram {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  return h;
}
