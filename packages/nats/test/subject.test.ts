import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "@cozebus/testing";
import { SubjectError, SubjectTemplate, openBus, type Bus } from "../src/index.js";
import { templatePattern } from "../src/messaging/subject.js";
import { bytes, memoryLogger, waitFor } from "./helpers.js";

const started = SubjectTemplate.parse("coze.workflow.{workflow_id}.started");

// Every way a user-supplied id could change which subject an event lands on.
const INJECTIONS: Array<[string, unknown]> = [
  ["a dot (adds a token)", "a.b"],
  ["a trailing dot", "wf1."],
  ["a star wildcard", "*"],
  ["a star inside", "wf*"],
  ["a full wildcard", ">"],
  ["empty", ""],
  ["a space", "wf 1"],
  ["only whitespace", " "],
  ["a tab", "wf\t1"],
  ["a newline (protocol injection)", "wf1\r\nPUB x 1"],
  ["non-ASCII", "wörkflow"],
  ["CJK", "工作流"],
  ["an emoji", "wf🚀"],
  ["a NUL byte", "wf\u00001"],
  ["undefined", undefined],
  ["null", null],
  ["a float", 1.5],
  ["an unsafe integer", 2 ** 60],
  ["an object", { toString: () => "wf1" }],
];

describe("SubjectTemplate", () => {
  it("fills tokens from strings, integers and bigints", () => {
    expect(started.build({ workflow_id: "wf_1-A" })).toBe("coze.workflow.wf_1-A.started");
    expect(started.build({ workflow_id: 42 })).toBe("coze.workflow.42.started");
    expect(started.build({ workflow_id: 9007199254740993n })).toBe("coze.workflow.9007199254740993.started");
    expect(started.fields).toEqual(["workflow_id"]);
  });

  it("replaces the root token with the configured prefix", () => {
    expect(started.build({ workflow_id: "w" }, "tenant-a.coze")).toBe("tenant-a.coze.workflow.w.started");
  });

  it.each(INJECTIONS)("rejects %s, naming the field and the value", (_label, value) => {
    let caught: unknown;
    try {
      started.build({ workflow_id: value as string });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SubjectError);
    const err = caught as SubjectError;
    expect(err.field).toBe("workflow_id");
    expect(err.message).toContain('"workflow_id"');
    expect(err.message).toContain("coze.workflow.{workflow_id}.started");
  });

  it("builds filter patterns: given fields fixed and validated, omitted fields any", () => {
    const t = SubjectTemplate.parse("coze.knowledge.{knowledge_id}.document.{document_id}.indexed");
    expect(templatePattern(t, {})).toBe("coze.knowledge.*.document.*.indexed");
    expect(templatePattern(t, { knowledge_id: "kb1" })).toBe("coze.knowledge.kb1.document.*.indexed");
    expect(() => templatePattern(t, { knowledge_id: ">" })).toThrow(SubjectError);
    expect(() => templatePattern(t, { nope: "x" })).toThrow(/filter field "nope"/);
  });

  it("reads field values back from a subject", () => {
    expect(started.match("coze.workflow.wf9.started")).toEqual({ workflow_id: "wf9" });
    expect(started.match("coze.workflow.wf9.completed")).toBeUndefined();
    expect(started.match("other.workflow.wf9.started")).toBeUndefined();
    expect(started.match("t.coze.workflow.wf9.started", "t.coze")).toEqual({ workflow_id: "wf9" });
  });

  it.each([
    ["coze", /root and at least one/],
    ["{id}.x", /root token cannot be a field/],
    ["coze.{id}.{id}", /twice/],
    ["coze.a b", /token 2/],
    ["coze.*.x", /token 2/],
    ["coze.x.>", /token 3/],
    ["coze..x", /token 2/],
  ])("refuses the bad template %s", (template, message) => {
    expect(() => SubjectTemplate.parse(template)).toThrow(message);
  });
});

describe("subject injection against a real server", () => {
  let server: NatsServer;
  let bus: Bus;
  beforeAll(async () => {
    server = await startNatsServer();
    bus = await openBus({ servers: server.url, env: {}, logger: memoryLogger() });
  });
  afterAll(async () => {
    await bus?.close();
    await server?.stop();
  });

  it("sends nothing for any rejected value, while a valid event still arrives", async () => {
    const seen: string[] = [];
    await bus.subscribe(">", (m) => {
      seen.push(m.subject);
    });
    for (const [, value] of INJECTIONS) {
      expect(() => bus.publish(bus.subject(started, { workflow_id: value as string }), bytes("x"), { type: "t" })).toThrow(SubjectError);
    }
    for (const raw of ["coze.workflow.*.started", "coze.>", "coze..x", "coze.a b", ""]) {
      expect(() => bus.publish(raw, bytes("x"), { type: "t" })).toThrow(SubjectError);
    }
    bus.publish(bus.subject(started, { workflow_id: "ok" }), bytes("x"), { type: "t" });
    await waitFor("the valid event", () => seen.length > 0);
    await bus.nats.flush();
    expect(seen).toEqual(["coze.workflow.ok.started"]);
  });
});
