import { randomUUID } from "node:crypto";
import type { EventAddress, OutgoingAttributes, OutgoingEvent, QualityOfService } from "../port/transport.js";

/**
 * What an outbox stores of an event's attributes: all of them, fixed at
 * enqueue time, so every re-publish after a crash carries the same ce-id and
 * time (JetStream's duplicate window drops the copy by that id).
 */
export interface StoredAttributes {
  readonly type: string;
  readonly id: string;
  readonly source?: string;
  readonly time: string;
  readonly contentType?: string;
  readonly traceparent?: string;
  readonly tracestate?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export function storedAttributes(a: OutgoingAttributes, now: Date): StoredAttributes {
  return {
    type: a.type,
    id: a.id ?? randomUUID(),
    time: (a.time ?? now).toISOString(),
    ...(a.source !== undefined ? { source: a.source } : {}),
    ...(a.contentType !== undefined ? { contentType: a.contentType } : {}),
    ...(a.traceparent !== undefined ? { traceparent: a.traceparent } : {}),
    ...(a.tracestate !== undefined ? { tracestate: a.tracestate } : {}),
    ...(a.headers !== undefined ? { headers: a.headers } : {}),
  };
}

/** The ordering key of an event enqueued without one: its address, so events are ordered per subject. Fields sorted, so the key does not depend on their order. */
export function defaultOrderingKey(address: EventAddress): string {
  return `${address.domain}|${address.template.template}|${JSON.stringify(Object.entries(address.fields).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
}

/** One event as an outbox row holds it, before the dialect adds its own columns (a key hash, a clock) and encodings. */
export interface OutboxRowValues {
  /** The ce-id, fixed now. */
  readonly id: string;
  readonly key: string;
  readonly domain: string;
  readonly template: string;
  /** JSON of the address's field values. */
  readonly fields: string;
  readonly data: Uint8Array;
  /** JSON of the StoredAttributes. */
  readonly attributes: string;
  readonly qos: QualityOfService;
  readonly ttlMs: number | null;
  readonly deliverAt: Date | null;
}

/** The rows of `events` (in this order); `keys[i]` is the ordering key of `events[i]`, default `defaultOrderingKey`. */
export function outboxRowValues(events: readonly OutgoingEvent[], keys: readonly (string | undefined)[] | undefined, now: Date): OutboxRowValues[] {
  return events.map((e, i) => {
    const attributes = storedAttributes(e.attributes, now);
    return {
      id: attributes.id,
      key: keys?.[i] ?? defaultOrderingKey(e.address),
      domain: e.address.domain,
      template: e.address.template.template,
      fields: JSON.stringify(e.address.fields),
      data: e.data,
      attributes: JSON.stringify(attributes),
      qos: e.qos,
      ttlMs: e.ttlMs ?? null,
      deliverAt: e.deliverAt ?? null,
    };
  });
}
