/**
 * Everything NATS-specific about Coze Studio's names and settings, in one
 * place (a Pulsar adapter has its own: persistent://public/default/<topic>,
 * a subscription named after the group). Read from Coze's
 * backend/infra/eventbus/impl/nats: producer.go and consumer.go.
 */
import type { StreamLimits, StreamSpec } from "@cozebus/nats";
import { NameError } from "../errors.js";

// A topic becomes a subject and (dots replaced) a stream name; a group becomes a
// queue group and a durable name. These characters are safe in all four.
const TOPIC = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const GROUP = /^[A-Za-z0-9_-]+$/;

export function checkTopic(topic: string): string {
  if (typeof topic !== "string" || !TOPIC.test(topic)) {
    throw new NameError("topic", String(topic), "must be dot-separated tokens of [A-Za-z0-9_-] (it is the NATS subject, and names the stream)");
  }
  return topic;
}

export function checkGroup(group: string): string {
  if (typeof group !== "string" || !GROUP.test(group)) {
    throw new NameError("group", String(group), "must be [A-Za-z0-9_-] (it is the queue group and the durable consumer name)");
  }
  return group;
}

/** The subject is the bare topic (consumer.go / producer.go publish and subscribe on it as is). */
export const subjectOf = (topic: string): string => checkTopic(topic);

/** `opencoze_knowledge` -> `opencoze_knowledge_STREAM` (consumer.go ensureStream: dots -> underscores, plus `_STREAM`). */
export const streamNameOf = (topic: string): string => `${checkTopic(topic).replaceAll(".", "_")}_STREAM`;

/** Core mode: the queue group is the group (consumer.go startCoreConsumer: QueueSubscribe(topic, group)). */
export const queueGroupOf = (group: string): string => checkGroup(group);

/** JetStream mode: the durable pull consumer is named after the group (consumer.go startJetStreamConsumer: PullSubscribe(topic, group)). */
export const durableOf = (group: string): string => checkGroup(group);

const NS_PER_MS = 1_000_000;

/**
 * The limits Coze's ensureStream creates a stream with (consumer.go):
 * file storage, MaxAge 24 h, MaxMsgs 1,000,000, MaxBytes 1 GiB; the rest is
 * nats-server's default for a Go StreamConfig with zero values: limits
 * retention, discard old, no message size limit, 2-minute duplicate window,
 * one replica. cozebus creates the stream with exactly these, so either side
 * may start first and the stream is the same.
 */
export const GO_STREAM_LIMITS: StreamLimits = Object.freeze({
  maxAgeMs: 24 * 60 * 60 * 1000,
  maxBytes: 1024 ** 3,
  maxMsgs: 1_000_000,
  maxMsgSize: -1,
  duplicateWindowMs: 2 * 60 * 1000,
  discard: "old",
  storage: "file",
});

/** The stream Coze's Go code would create for a topic. `replicas` other than 1 differs from Go, which never sets it (and never reads NATS_STREAM_REPLICAS). */
export function streamSpecOf(topic: string, replicas = 1): StreamSpec {
  return { name: streamNameOf(topic), subjects: [subjectOf(topic)], replicas, limits: GO_STREAM_LIMITS };
}

/** The stream config a server holds for `streamSpecOf(topic)`, in the server's units: what `checkCozeStudio` compares with. */
export function goStreamConfig(topic: string): Readonly<Record<string, unknown>> {
  const l = GO_STREAM_LIMITS;
  return {
    name: streamNameOf(topic),
    subjects: [subjectOf(topic)],
    retention: "limits",
    storage: l.storage,
    discard: l.discard,
    max_age: l.maxAgeMs * NS_PER_MS,
    max_bytes: l.maxBytes,
    max_msgs: l.maxMsgs,
    max_msg_size: l.maxMsgSize,
    duplicate_window: l.duplicateWindowMs * NS_PER_MS,
    num_replicas: 1,
  };
}

/**
 * The durable consumer nats.go's legacy `js.PullSubscribe(topic, group)`
 * creates when none exists (nats.go js.go subscribe: filter = the subject,
 * deliver all, ack explicit, replay instant, max_ack_pending = the
 * subscription channel size 65,536; ack wait 30 s and unlimited deliveries
 * from the server's defaults). When it binds to an existing consumer it
 * checks only the filter (empty or the subject) and that it is a pull
 * consumer, so the settings cozebus adds below do not stop it binding.
 */
export const GO_CONSUMER = Object.freeze({
  ack_policy: "explicit",
  deliver_policy: "all",
  replay_policy: "instant",
  ack_wait_ms: 30_000,
  max_deliver: -1,
  max_ack_pending: 65_536,
});
