import type { Attributes, Counter, Histogram, Meter, UpDownCounter } from "@opentelemetry/api";
import { DURATION_BUCKETS, METRIC } from "./semconv.js";

/** The instruments one instrumented transport records into (no-ops when no MeterProvider is registered). */
export interface Instruments {
  readonly sent: Counter;
  readonly consumed: Counter;
  readonly processDuration: Histogram;
  readonly operationDuration: Histogram;
  readonly retries: Counter;
  readonly deadLetters: Counter;
  readonly active: UpDownCounter;
  readonly heartbeats: Counter;
}

export function instruments(meter: Meter): Instruments {
  const seconds = { unit: "s", advice: { explicitBucketBoundaries: DURATION_BUCKETS } };
  return {
    sent: meter.createCounter(METRIC.sent, { unit: "{message}", description: "Messages a producer sent (a failed send has error.type)." }),
    consumed: meter.createCounter(METRIC.consumed, { unit: "{message}", description: "Messages handed to a handler (every delivery, redeliveries included)." }),
    processDuration: meter.createHistogram(METRIC.processDuration, { ...seconds, description: "How long a handler ran, per delivery." }),
    operationDuration: meter.createHistogram(METRIC.operationDuration, { ...seconds, description: "How long a publish, batch or request took, until the broker answered." }),
    retries: meter.createCounter(METRIC.retries, { unit: "{message}", description: "Deliveries whose outcome was a retry (redelivery after a delay)." }),
    deadLetters: meter.createCounter(METRIC.deadLetters, { unit: "{message}", description: "Deliveries whose outcome was a dead letter, by reason." }),
    active: meter.createUpDownCounter(METRIC.active, { unit: "{message}", description: "Handlers running now." }),
    heartbeats: meter.createCounter(METRIC.heartbeats, {
      unit: "{heartbeat}",
      description: "In-progress heartbeats the transport sent for events held by a handler (running or queued), so the broker did not redeliver them.",
    }),
  };
}

/**
 * Metric attribute sets are few (system x operation x template x group x
 * outcome) and the same ones recur on every message: build each once, so a
 * publish allocates none.
 */
export class AttributeCache {
  readonly #byKey = new Map<string, Attributes>();
  get(key: string, make: () => Attributes): Attributes {
    let a = this.#byKey.get(key);
    if (a === undefined) {
      a = Object.freeze(make());
      // Bounded: a caller building templates at run time must not grow this forever.
      if (this.#byKey.size < 10_000) this.#byKey.set(key, a);
    }
    return a;
  }
}
