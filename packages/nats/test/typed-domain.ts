/**
 * The conformance suite's test domain (@cozebus/testing/conformance), as the
 * NATS tests name it: "old" knows events a and b, "new" also knows c — one
 * minor schema release — every event at one NATS delivery mode.
 */
import { conformanceDomain, type ConformancePayload } from "@cozebus/testing/conformance";
import type { DomainDef } from "../src/index.js";

/** The NATS delivery mode a test domain's events declare (as their quality of service). */
export type Delivery = "core" | "jetstream";

export type Payload = ConformancePayload;

/** The domain `domain` as build "old" (a, b) or "new" (a, b, c), every event at the given delivery. */
export function testDomain(domain: string, build: "old" | "new", delivery: Delivery): DomainDef {
  return conformanceDomain(domain, build, delivery === "core" ? "at-most-once" : "at-least-once");
}
