import { SubjectTemplate, type Delivery, type DeliveryHandler, type OutgoingEvent, type Outcome } from "@cozebus/core/transport";

export const ACK: Outcome = { type: "ack" };

let n = 0;
/** A template of its own per test, so tests sharing a broker never see each other's events. */
export function freshTemplate(domain = "wf"): SubjectTemplate {
  return SubjectTemplate.parse(`coze.${domain}.{workflow_id}.t${Date.now().toString(36)}${++n}`);
}

export function event(template: SubjectTemplate, id: string, data: string | Uint8Array = id, extra: Partial<OutgoingEvent> = {}): OutgoingEvent {
  return {
    address: { domain: template.parts[0] && "literal" in template.parts[0] ? template.parts[0].literal : "wf", template, fields: { workflow_id: id } },
    data: typeof data === "string" ? new TextEncoder().encode(data) : data,
    attributes: { type: "coze.workflow.v1.Test" },
    qos: "at-least-once",
    ...extra,
  };
}

export const text = (d: Delivery): string => new TextDecoder().decode(d.data);

/** Resolves when `predicate` holds, polling; rejects with `what` after `timeoutMs`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A handler that records deliveries and answers with `outcome`. */
export function recorder(outcome: (d: Delivery) => Outcome | Promise<Outcome> = () => ACK): { seen: Delivery[]; handler: DeliveryHandler } {
  const seen: Delivery[] = [];
  return {
    seen,
    handler: async (d) => {
      seen.push(d);
      return outcome(d);
    },
  };
}

/** Calls `fn` until its result passes `ok`, then returns that result. */
export async function poll<T>(fn: () => Promise<T>, ok: (t: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}
