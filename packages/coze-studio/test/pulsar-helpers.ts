import { waitFor, type PulsarBroker } from "@cozebus/testing";
import { expect } from "vitest";
import { KNOWLEDGE, type CozeTopic, type KnowledgeEvent } from "../src/index.js";

/** waitFor with a broker-sized default: the Pulsar tests share one broker on a loaded machine. */
export const until = (what: string, ok: () => boolean, timeoutMs = 30_000): Promise<void> => waitFor(what, ok, timeoutMs);

/** What the broker's admin REST says of a topic's subscriptions (the fields these tests read). */
export interface TopicStats {
  readonly subscriptions: Record<string, { type?: string; consumers?: unknown[]; msgBacklog?: number }>;
}

/** The admin stats of a `persistent://public/default/<topic>` topic. */
export async function topicStats(broker: PulsarBroker, topic: string): Promise<TopicStats> {
  const local = topic.replace("persistent://public/default/", "");
  const res = await broker.admin(`/admin/v2/persistent/public/default/${encodeURIComponent(local)}/stats`);
  expect(res.status).toBe(200);
  return (await res.json()) as TopicStats;
}

let n = 0;
/** A knowledge topic of its own per test (`tag` tells the test files apart), so tests sharing the broker never see each other's messages. */
export const freshKnowledgeTopic = (tag: string): CozeTopic<KnowledgeEvent> => ({ ...KNOWLEDGE, topic: `opencoze_knowledge_${tag}${Date.now().toString(36)}${++n}` });
