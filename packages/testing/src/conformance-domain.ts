/**
 * The conformance suite's test domain, defined the way generated packages
 * define theirs (defineDomain), in two builds: "old" knows events a and b,
 * "new" also knows c — one minor schema release, as it rolls through a fleet.
 * Each event's subject is `coze.<domain>.{key}.<event>`; its payload is JSON
 * `{ key, payload }`, and decode refuses anything else, as a protobuf codec
 * refuses bad bytes.
 */
import { defineDomain, type Codec, type DomainDef, type EventDef, type QualityOfService } from "@cozebus/core";

export interface ConformancePayload {
  key: string;
  payload: string;
}

export const conformanceCodec: Codec<ConformancePayload> = {
  encode: (m) => ({ finish: () => new TextEncoder().encode(JSON.stringify(m)) }),
  decode(input) {
    const v = JSON.parse(new TextDecoder().decode(input)) as unknown;
    if (typeof v !== "object" || v === null) throw new Error("expected an object");
    const { key, payload } = v as Record<string, unknown>;
    if (typeof key !== "string" || typeof payload !== "string") throw new Error("expected string fields key and payload");
    return { key, payload };
  },
  fromPartial: (o: Partial<ConformancePayload>) => ({ key: o.key ?? "", payload: o.payload ?? "" }),
  toJSON: (m) => m,
  fromJSON: (o) => conformanceCodec.fromPartial(o),
};

/** The ce-type of the test domain's event `name`. */
export const conformanceType = (name: string): string => `cozebus.conformance.v1.${name.toUpperCase()}`;

/** The subject template of the test domain's event `name` (the schema's, root `coze`). */
export const conformanceSubject = (domain: string, name: string): string => `coze.${domain}.{key}.${name}`;

const event = (domain: string, name: string, qos: QualityOfService): EventDef<Codec<ConformancePayload>> => ({
  type: conformanceType(name),
  subject: conformanceSubject(domain, name),
  fields: { key: "key" },
  qos,
  codec: conformanceCodec,
});

/** The events of each build. */
export const BUILD_EVENTS = { old: ["a", "b"], new: ["a", "b", "c"] } as const;

/** The domain `domain` as build "old" (a, b) or "new" (a, b, c), every event declared with `qos`. */
export function conformanceDomain(domain: string, build: "old" | "new", qos: QualityOfService): DomainDef {
  return defineDomain({ name: domain, events: Object.fromEntries(BUILD_EVENTS[build].map((n) => [n, event(domain, n, qos)])), operations: {} });
}
