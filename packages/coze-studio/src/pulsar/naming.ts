/**
 * Everything Pulsar-specific about Coze Studio's names, in one place. Read
 * from Coze's backend/infra/eventbus/impl/pulsar: producer.go NewProducer
 * (`ProducerOptions{Topic: topic, Name: "<group>-producer"}`) and
 * consumer.go RegisterConsumer (`ConsumerOptions{Topic: topic,
 * SubscriptionName: group, Type: pulsar.Exclusive}`). Go passes the bare
 * topic, which the Pulsar client resolves to `persistent://public/default/<topic>`
 * whatever PULSAR_TENANT / PULSAR_NAMESPACE say, so these names do too.
 */
import { NameError } from "../errors.js";

// The same rules as the NATS names, so a topic or group is valid on both transports.
const TOPIC = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const GROUP = /^[A-Za-z0-9_-]+$/;

/** The tenant and namespace a bare topic name resolves to in every Pulsar client (TopicName's defaults). */
export const GO_TENANT = "public";
export const GO_NAMESPACE = "default";

export function checkPulsarTopic(topic: string): string {
  if (typeof topic !== "string" || !TOPIC.test(topic)) {
    throw new NameError("topic", String(topic), "must be dot-separated tokens of [A-Za-z0-9_-] (it is the local name of persistent://public/default/<topic>)");
  }
  return topic;
}

export function checkPulsarGroup(group: string): string {
  if (typeof group !== "string" || !GROUP.test(group)) {
    throw new NameError("group", String(group), "must be [A-Za-z0-9_-] (it is the Pulsar subscription name)");
  }
  return group;
}

/** `opencoze_knowledge` -> `persistent://public/default/opencoze_knowledge` (what Go's client makes of the bare name). */
export const pulsarTopicOf = (topic: string): string => `persistent://${GO_TENANT}/${GO_NAMESPACE}/${checkPulsarTopic(topic)}`;

/** The subscription is named after the group (consumer.go: SubscriptionName: group). */
export const subscriptionOf = (group: string): string => checkPulsarGroup(group);

/**
 * The subscription type cozebus uses: Shared, so replicas of a group split
 * the messages. Coze's Go consumer subscribes Exclusive (consumer.go), so a
 * second replica of a Go service cannot subscribe, and a cozebus consumer
 * cannot join a group a Go consumer holds (nor the other way round).
 */
export const COZEBUS_SUBSCRIPTION_TYPE = "Shared" as const;
export const GO_SUBSCRIPTION_TYPE = "Exclusive" as const;

/**
 * The dead-letter topic of a group: `<topic>-<group>-DLQ`, the name Pulsar's
 * own clients give a DeadLetterPolicy by default. Coze's Go consumer sets no
 * DeadLetterPolicy, so it never writes there.
 */
export const deadLetterTopicOf = (topic: string, group: string): string => `${pulsarTopicOf(topic)}-${checkPulsarGroup(group)}-DLQ`;

/** The subscription that keeps the dead letters (Pulsar deletes what no subscription holds). Same name as @cozebus/pulsar's. */
export { DLQ_SUBSCRIPTION } from "@cozebus/pulsar";
