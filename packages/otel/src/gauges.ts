import type { Attributes, BatchObservableCallback, Meter, Observable } from "@opentelemetry/api";
import type { GroupLag, Transport, TransportSubscription } from "@cozebus/core/transport";
import { ATTR, METRIC } from "./semconv.js";

/** How often consumer lag is read from the broker by default: one consumer-info round trip per group and destination. */
export const DEFAULT_LAG_INTERVAL_MS = 15_000;

interface Tracked {
  readonly group: string;
  readonly sub: TransportSubscription;
  /**
   * The last successful read; undefined before it and after a failed one, so nothing is observed for it then. (The
   * OpenTelemetry JS SDK still exports an async series' last value under cumulative temporality: see docs/observability.md.)
   */
  lags: readonly GroupLag[] | undefined;
  failing: boolean;
}

/**
 * The observable gauges of one instrumented transport: the publish window
 * (read at collection time, when the transport has one) and consumer lag per
 * group (read from the broker every `lagIntervalMs` for the subscriptions
 * this process holds, and served from that reading at collection time, so a
 * scrape never waits on the broker).
 */
export class Gauges {
  readonly #meter: Meter;
  readonly #system: string;
  readonly #inner: Transport;
  readonly #intervalMs: number;
  readonly #tracked = new Set<Tracked>();
  readonly #callbacks: Array<{ cb: BatchObservableCallback; observables: Observable[] }> = [];
  #timer: NodeJS.Timeout | undefined;
  #polling = false;
  #closed = false;

  constructor(meter: Meter, inner: Transport, lagIntervalMs: number) {
    this.#meter = meter;
    this.#system = inner.name;
    this.#inner = inner;
    this.#intervalMs = lagIntervalMs;
    if (inner.publishWindow !== undefined) this.#windowGauges();
    if (lagIntervalMs > 0) this.#lagGauges();
  }

  #batch(observables: Observable[], cb: BatchObservableCallback): void {
    this.#meter.addBatchObservableCallback(cb, observables);
    this.#callbacks.push({ cb, observables });
  }

  #windowGauges(): void {
    const unit = { unit: "{message}" };
    const inFlight = this.#meter.createObservableGauge(METRIC.windowInFlight, { ...unit, description: "Acknowledged publishes awaiting their broker ack now (the publish window's occupancy)." });
    const peak = this.#meter.createObservableGauge(METRIC.windowPeak, { ...unit, description: "The most publishes awaiting an ack at once since the previous collection (a burst between two scrapes shows here)." });
    const capacity = this.#meter.createObservableGauge(METRIC.windowCapacity, { ...unit, description: "Publishes that may await an ack at once; more wait for a slot." });
    const attrs: Attributes = Object.freeze({ [ATTR.system]: this.#system });
    // One read per collection: the peak resets on each read, so the three must come from the same one.
    this.#batch([inFlight, peak, capacity], (r) => {
      const w = this.#inner.publishWindow?.();
      if (w === undefined) return;
      r.observe(inFlight, w.inFlight, attrs);
      r.observe(peak, w.peak, attrs);
      r.observe(capacity, w.capacity, attrs);
    });
  }

  #lagGauges(): void {
    const unit = { unit: "{message}" };
    const pending = this.#meter.createObservableGauge(METRIC.lagPending, { ...unit, description: "Stored events the group has not been delivered yet, per destination (read from the broker at an interval)." });
    const ackPending = this.#meter.createObservableGauge(METRIC.lagAckPending, { ...unit, description: "Events delivered to the group and not yet settled." });
    const redelivered = this.#meter.createObservableGauge(METRIC.lagRedelivered, { ...unit, description: "Of the unsettled events, those delivered more than once (NATS only)." });
    this.#batch([pending, ackPending, redelivered], (r) => {
      for (const t of this.#tracked) {
        for (const l of t.lags ?? []) {
          const attrs: Attributes = {
            [ATTR.system]: this.#system,
            [ATTR.consumerGroup]: t.group,
            [ATTR.lagDestination]: l.destination,
            [ATTR.lagConsumer]: l.consumer,
          };
          r.observe(pending, l.pending, attrs);
          r.observe(ackPending, l.ackPending, attrs);
          if (l.redelivered !== undefined) r.observe(redelivered, l.redelivered, attrs);
        }
      }
    });
  }

  /** Follows a subscription's lag (when lag is on and the transport can read it) until it stops. */
  track(group: string, sub: TransportSubscription): TransportSubscription {
    if (this.#intervalMs <= 0 || sub.lag === undefined || this.#closed) return sub;
    const t: Tracked = { group, sub, lags: undefined, failing: false };
    this.#tracked.add(t);
    void this.#read(t);
    this.#timer ??= setInterval(() => void this.#poll(), this.#intervalMs).unref();
    return {
      stop: async () => {
        this.#untrack(t);
        await sub.stop();
      },
      lag: () => sub.lag!(),
    };
  }

  #untrack(t: Tracked): void {
    this.#tracked.delete(t);
    if (this.#tracked.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  async #poll(): Promise<void> {
    // A broker slower than the interval: skip a round rather than pile requests up.
    if (this.#polling) return;
    this.#polling = true;
    try {
      await Promise.all([...this.#tracked].map((t) => this.#read(t)));
    } finally {
      this.#polling = false;
    }
  }

  async #read(t: Tracked): Promise<void> {
    try {
      const lags = await t.sub.lag!();
      if (this.#tracked.has(t)) t.lags = lags;
      t.failing = false;
    } catch (err) {
      t.lags = undefined;
      // Once per failing streak: a broker that is away for minutes must not flood the error hook every interval.
      if (!t.failing && this.#tracked.has(t) && !this.#closed) {
        const why = err instanceof Error ? err.message : String(err);
        this.#inner.report(new Error(`@cozebus/otel: could not read the consumer lag of group "${t.group}" (${why}); its lag gauges are not updated until a read succeeds (tried every ${this.#intervalMs} ms)`));
      }
      t.failing = true;
    }
  }

  /** Stops polling and unregisters the callbacks (the MeterProvider may outlive the transport). */
  close(): void {
    this.#closed = true;
    for (const t of [...this.#tracked]) this.#untrack(t);
    for (const { cb, observables } of this.#callbacks.splice(0)) this.#meter.removeBatchObservableCallback(cb, observables);
  }
}
