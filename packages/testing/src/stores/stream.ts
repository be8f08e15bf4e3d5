/** The outbox suites' view of the broker side: the events they enqueue, and the stream the relays publish them to. */
import { SubjectTemplate } from "@cozebus/core";
import type { OutgoingEvent } from "@cozebus/core/transport";
import { sleep } from "../wait.js";
import type { StoreSuiteJetStream } from "./harness.js";

/** The stream of the `workflow` domain (`coze.workflow.>`), where every event of the suites lands. */
export const STREAM = "COZE_WORKFLOW";

const started = SubjectTemplate.parse("coze.workflow.{workflow_id}.started");
const encoder = new TextEncoder();

/** An event of workflow `workflowId` whose payload is `<workflowId>:<n>`, with `n` also in its `x-n` header. */
export function workflowEvent(workflowId: string, n: number): OutgoingEvent {
  return {
    address: { domain: "workflow", template: started, fields: { workflow_id: workflowId } },
    data: encoder.encode(`${workflowId}:${n}`),
    attributes: { type: "coze.workflow.v1.WorkflowExecutionStarted", source: "cozebus-store-conformance", headers: { "x-n": String(n) } },
    qos: "at-least-once",
  };
}

/** One message of the stream: its ce-id, Nats-Msg-Id, payload and `x-n` header. */
export interface StreamMessage {
  readonly id: string;
  readonly msgId: string;
  readonly data: string;
  readonly n: string;
}

/** Every message in the stream, in stream order. */
export async function streamMessages(js: StoreSuiteJetStream): Promise<StreamMessage[]> {
  let info: Awaited<ReturnType<StoreSuiteJetStream["jsm"]["streams"]["info"]>> | undefined;
  // The connection may still be reconnecting after a server restart: retry the first request.
  for (let i = 0; info === undefined; i++) {
    try {
      info = await js.jsm.streams.info(STREAM);
    } catch (err) {
      if (i >= 20) throw err;
      await sleep(500);
    }
  }
  const decoder = new TextDecoder();
  const out: StreamMessage[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await js.jsm.streams.getMessage(STREAM, { seq }).catch(() => null);
    if (!m) continue;
    out.push({ id: m.header.get("ce-id"), msgId: m.header.get("Nats-Msg-Id"), data: decoder.decode(m.data), n: m.header.get("x-n") });
  }
  return out;
}

/** Creates the stream (additively: as it is when it exists). */
export async function ensureWorkflowStream(js: StoreSuiteJetStream): Promise<void> {
  await js.ensureStream(js.domainStream("workflow", ["coze.workflow.>"]));
}

/** Deletes the stream: publishes to it fail until `ensureWorkflowStream`. */
export async function deleteWorkflowStream(js: StoreSuiteJetStream): Promise<void> {
  await js.jsm.streams.delete(STREAM).catch(() => undefined);
}

/** An empty stream. */
export async function resetWorkflowStream(js: StoreSuiteJetStream): Promise<void> {
  await deleteWorkflowStream(js);
  await ensureWorkflowStream(js);
}
