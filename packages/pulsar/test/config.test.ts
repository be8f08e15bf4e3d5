import { SubjectTemplate, isCozebusError } from "@cozebus/core/transport";
import { describe, expect, it } from "vitest";
import { describeConfig, resolveConfig } from "../src/config/resolve.js";
import { messageKey, topicLocalName } from "../src/mapping.js";
import { readableMessageId } from "../src/wire/message-id.js";

const cfg = (env: Record<string, string>, options = {}) => resolveConfig({ env, ...options });

function configError(fn: () => unknown): { variable: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (isCozebusError(err, "CONFIG_INVALID")) return err as unknown as { variable: string; message: string };
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("configuration", () => {
  it("reads the Coze variables and derives the web service from MQ_NAME_SERVER", () => {
    const c = cfg({ COZE_MQ_TYPE: "pulsar", MQ_NAME_SERVER: "pulsar://b1:6650,pulsar://b2:6650", PULSAR_JWT_TOKEN: "a.b.c" });
    expect(c.serviceUrls).toEqual(["pulsar://b1:6650", "pulsar://b2:6650"]);
    expect(c.webServiceUrls).toEqual(["http://b1:8080", "http://b2:8080"]);
    expect(c.webSocketUrls).toEqual(["ws://b1:8080/ws/v2", "ws://b2:8080/ws/v2"]);
    expect(c.token).toBe("a.b.c");
    expect(`${c.tenant}/${c.namespace}`).toBe("public/default");
    expect(c.subjectRoot).toBe("coze");
    expect(cfg({ MQ_NAME_SERVER: "pulsar+ssl://b1:6651" }).webServiceUrls).toEqual(["https://b1:8443"]);
    expect(cfg({ MQ_NAME_SERVER: "pulsar:6650" }).serviceUrls).toEqual(["pulsar://pulsar:6650"]);
  });

  it("options win over the environment", () => {
    const c = cfg({ MQ_NAME_SERVER: "pulsar://env:6650", PULSAR_TENANT: "t1", COZE_SUBJECT_ROOT: "env" }, { webServiceUrl: "http://opt:18080", tenant: "t2", subjectRoot: "acme.coze" });
    expect(c.webServiceUrls).toEqual(["http://opt:18080"]);
    expect(c.tenant).toBe("t2");
    expect(c.subjectRoot).toBe("acme.coze");
  });

  it("refuses bad values with an error naming the variable", () => {
    expect(configError(() => cfg({ COZE_MQ_TYPE: "nats", MQ_NAME_SERVER: "pulsar://b:6650" })).variable).toBe("COZE_MQ_TYPE");
    expect(configError(() => cfg({})).variable).toBe("MQ_NAME_SERVER");
    expect(configError(() => cfg({ MQ_NAME_SERVER: "nats://b:4222" })).variable).toBe("MQ_NAME_SERVER");
    expect(configError(() => cfg({ MQ_NAME_SERVER: "pulsar://b:6650,,pulsar://c:6650" })).message).toMatch(/empty/);
    expect(configError(() => cfg({ MQ_NAME_SERVER: "pulsar://b:6650,pulsar+ssl://c:6651" })).message).toMatch(/mixes/);
    expect(configError(() => cfg({ PULSAR_WEB_SERVICE_URL: "ftp://b" })).variable).toBe("PULSAR_WEB_SERVICE_URL");
    expect(configError(() => cfg({ MQ_NAME_SERVER: "pulsar://b:6650", PULSAR_WEB_SERVICE_URL: "https://b:8443" })).variable).toBe("PULSAR_WEB_SERVICE_URL");
    expect(configError(() => cfg({ MQ_NAME_SERVER: "pulsar://b:6650", PULSAR_TENANT: "a/b" })).variable).toBe("PULSAR_TENANT");
    expect(configError(() => cfg({ MQ_NAME_SERVER: "pulsar://b:6650", COZE_SUBJECT_ROOT: "a..b" })).variable).toBe("COZE_SUBJECT_ROOT");
    expect(configError(() => cfg({ MQ_NAME_SERVER: "pulsar://b:6650", PULSAR_TLS_CA_FILE: "/nonexistent/ca.pem" })).variable).toBe("PULSAR_TLS_CA_FILE");
  });

  it("never shows a token: not in URLs, not in describe()", () => {
    const e = configError(() => cfg({ MQ_NAME_SERVER: "pulsar://user:s3cret@b:6650" }));
    expect(e.message).not.toContain("s3cret");
    const d = JSON.stringify(describeConfig(cfg({ MQ_NAME_SERVER: "pulsar://b:6650", PULSAR_JWT_TOKEN: "eyJsecret.payload.sig" })));
    expect(d).not.toContain("eyJsecret");
    expect(d).toContain("set, 21 chars");
  });
});

describe("mapping", () => {
  const t = (s: string) => topicLocalName(SubjectTemplate.parse(s), "coze");

  it("one topic per event type: the usual template drops its entity field", () => {
    expect(t("coze.workflow.{workflow_id}.started")).toBe("coze.workflow.started");
    expect(t("coze.knowledge.{knowledge_id}.document_index_requested")).toBe("coze.knowledge.document_index_requested");
    expect(topicLocalName(SubjectTemplate.parse("coze.workflow.{workflow_id}.started"), "acme.coze")).toBe("acme.coze.workflow.started");
  });

  it("is injective: other shapes carry their shape", () => {
    const templates = [
      "coze.workflow.{a}.started",
      "coze.workflow.started.{a}",
      "coze.workflow.{a}.{b}.started",
      "coze.workflow.started",
      "coze.workflow.{a}.started.x",
      "coze.workflow.started.x",
      "coze.workflow.{a}",
    ];
    const topics = templates.map(t);
    expect(new Set(topics).size).toBe(templates.length);
    expect(t("coze.workflow.started.{a}")).toBe("coze.workflow.started.=LLF");
    expect(t("coze.workflow.started")).toBe("coze.workflow.started.=LL");
  });

  it("the key is the subject's field values", () => {
    const tpl = SubjectTemplate.parse("coze.workflow.{space_id}.{workflow_id}.started");
    expect(messageKey(tpl, { workflow_id: "wf_1", space_id: "s1" })).toBe("s1.wf_1");
  });

  it("message ids read as ledger:entry", () => {
    expect(readableMessageId("CAUQADAA")).toBe("5:0");
    expect(readableMessageId("CA0QATAA")).toBe("13:1");
  });
});
