import { describe, expect, it } from "vitest";
import { isCozebusError } from "../src/errors.js";
import { SubjectTemplate } from "../src/subject/template.js";
import type { OutgoingEvent } from "../src/port/transport.js";
import { StoredEventDecoder, defaultOrderingKey, outboxRowValues, sqlIdentifier, type StoredAttributes } from "../src/outbox/index.js";

const template = SubjectTemplate.parse("coze.workflow.{workflow_id}.{run_id}.started");
const event = (fields: Record<string, string>, extra: Partial<OutgoingEvent> = {}): OutgoingEvent => ({
  address: { domain: "workflow", template, fields },
  data: new TextEncoder().encode("payload"),
  attributes: { type: "workflow.started", source: "/svc", headers: { tenant: "t1" } },
  qos: "at-least-once",
  ...extra,
});

describe("@cozebus/core/outbox: what both SQL outboxes store", () => {
  it("the default ordering key is the address, independent of the fields' order", () => {
    const a = defaultOrderingKey(event({ workflow_id: "w1", run_id: "r1" }).address);
    const b = defaultOrderingKey(event({ run_id: "r1", workflow_id: "w1" }).address);
    expect(a).toBe(b);
    expect(a).toBe('workflow|coze.workflow.{workflow_id}.{run_id}.started|[["run_id","r1"],["workflow_id","w1"]]');
    expect(defaultOrderingKey(event({ workflow_id: "w1", run_id: "r2" }).address)).not.toBe(a);
  });

  it("row values fix the ce-id and time at enqueue, keep a given key, and decode back to the same event", () => {
    const now = new Date("2026-01-02T03:04:05.678Z");
    const deliverAt = new Date("2026-01-02T04:00:00.000Z");
    const [plain, keyed] = outboxRowValues([event({ workflow_id: "w1", run_id: "r1" }), event({ workflow_id: "w2", run_id: "r1" }, { ttlMs: 5000, deliverAt })], [undefined, "agg-7"], now);
    expect(plain!.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(keyed!.id).not.toBe(plain!.id);
    expect(plain!.key).toBe(defaultOrderingKey(event({ workflow_id: "w1", run_id: "r1" }).address));
    expect(keyed!.key).toBe("agg-7");
    expect([plain!.ttlMs, plain!.deliverAt, keyed!.ttlMs, keyed!.deliverAt]).toEqual([null, null, 5000, deliverAt]);
    const attributes = JSON.parse(keyed!.attributes) as StoredAttributes;
    expect(attributes).toEqual({ type: "workflow.started", id: keyed!.id, time: now.toISOString(), source: "/svc", headers: { tenant: "t1" } });

    const decoded = new StoredEventDecoder().decode({
      domain: keyed!.domain,
      template: keyed!.template,
      fields: JSON.parse(keyed!.fields) as Record<string, string>,
      data: keyed!.data,
      attributes,
      qos: keyed!.qos,
      ttlMs: keyed!.ttlMs,
      deliverAt: keyed!.deliverAt,
    });
    expect(decoded.address.template.template).toBe(template.template);
    expect(decoded.address.fields).toEqual({ workflow_id: "w2", run_id: "r1" });
    expect(new TextDecoder().decode(decoded.data)).toBe("payload");
    expect(decoded.attributes).toEqual({ ...attributes, time: now });
    expect(decoded).toMatchObject({ qos: "at-least-once", ttlMs: 5000, deliverAt });
    // No ttl or deliver time stored: the event has neither key, as one enqueued without them.
    expect("ttlMs" in new StoredEventDecoder().decode({ domain: "workflow", template: template.template, fields: {}, data: new Uint8Array(), attributes, qos: "at-most-once", ttlMs: null, deliverAt: null })).toBe(false);
  });

  it("an explicit id and time are kept as given", () => {
    const time = new Date("2025-05-05T00:00:00.000Z");
    const [row] = outboxRowValues([{ ...event({ workflow_id: "w", run_id: "r" }), attributes: { type: "t", id: "fixed-id", time } }], undefined, new Date());
    expect(row!.id).toBe("fixed-id");
    expect(JSON.parse(row!.attributes)).toEqual({ type: "t", id: "fixed-id", time: time.toISOString() });
  });

  it("sqlIdentifier takes plain names up to the dialect's limit and names the option it refuses", () => {
    expect(sqlIdentifier("outboxTable", "a".repeat(63), 63)).toBe("a".repeat(63));
    for (const bad of ["a".repeat(64), "Outbox", "1table", 'x"; DROP TABLE y; --', ""]) {
      let caught: unknown;
      try {
        sqlIdentifier("outboxTable", bad, 63);
      } catch (err) {
        caught = err;
      }
      expect(isCozebusError(caught)).toBe(true);
      expect((caught as Error).message).toContain("outboxTable");
    }
    expect(sqlIdentifier("database", "b".repeat(64), 64)).toBe("b".repeat(64));
  });
});
