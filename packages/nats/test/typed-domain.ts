/**
 * A small domain in two builds, defined the way generated packages define
 * theirs (defineDomain), for the conformance suite's typed cases: "old"
 * knows events a and b, "new" also knows c — one minor schema release.
 */
import { defineDomain, type Codec, type DomainDef, type EventDef } from "../src/index.js";

/** The NATS delivery mode a test domain's events declare (as their quality of service). */
export type Delivery = "core" | "jetstream";

export interface Payload {
  key: string;
  payload: string;
}

/** JSON on the wire; decode refuses anything that is not a { key, payload } object of strings, as a protobuf codec refuses bad bytes. */
export const payloadCodec: Codec<Payload> = {
  encode: (m) => ({ finish: () => new TextEncoder().encode(JSON.stringify(m)) }),
  decode(input) {
    const v = JSON.parse(new TextDecoder().decode(input)) as unknown;
    if (typeof v !== "object" || v === null) throw new Error("expected an object");
    const { key, payload } = v as Record<string, unknown>;
    if (typeof key !== "string" || typeof payload !== "string") throw new Error("expected string fields key and payload");
    return { key, payload };
  },
  fromPartial: (o: Partial<Payload>) => ({ key: o.key ?? "", payload: o.payload ?? "" }),
  toJSON: (m) => m,
  fromJSON: (o) => payloadCodec.fromPartial(o),
};

const event = (domain: string, name: string, delivery: Delivery): EventDef<Codec<Payload>> => ({
  type: `cozebus.conformance.v1.${name.toUpperCase()}`,
  subject: `coze.${domain}.{key}.${name}`,
  fields: { key: "key" },
  qos: delivery === "core" ? "at-most-once" : "at-least-once",
  codec: payloadCodec,
});

/** The domain `domain` as build "old" (a, b) or "new" (a, b, c), every event at the given delivery. */
export function testDomain(domain: string, build: "old" | "new", delivery: Delivery): DomainDef {
  const names = build === "old" ? ["a", "b"] : ["a", "b", "c"];
  return defineDomain({ name: domain, events: Object.fromEntries(names.map((n) => [n, event(domain, n, delivery)])), operations: {} });
}
