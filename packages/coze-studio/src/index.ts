/**
 * @cozebus/coze-studio — join a Coze Studio deployment's own event bus:
 * its three topics, consumer groups and JSON payloads, wire-exact, on NATS
 * core or JetStream, with cozebus's delivery guarantees. This file is the
 * whole public surface.
 */
export * from "./messages.js";

export type {
  CozeProducer,
  CozeConsumer,
  CozeConsumerStats,
  CozeMessage,
  SendOptions,
  SendReceipt,
  RawHandler,
  TypedHandler,
  ConsumerOptions,
  TypedConsumerOptions,
  CozeTransportMode,
  CozeStudioBus,
  RawBody,
} from "./api.js";
export { modeFromEnv, mqTypeFromEnv, cozeStudioBusOptions } from "./config.js";
export type { CozeMode, CozeMqType, Env } from "./config.js";
export { openCozeStudio } from "./open.js";
export type { OpenCozeStudioOptions, OpenedCozeStudio } from "./open.js";

// NATS: the names and settings Coze's Go code uses, and the client on a cozebus Bus.
export { CozeStudio, cozeStudio } from "./nats/client.js";
export type { CozeStudioOptions } from "./nats/client.js";
export { subjectOf, streamNameOf, queueGroupOf, durableOf, streamSpecOf, goStreamConfig, GO_STREAM_LIMITS, GO_CONSUMER } from "./nats/naming.js";
export { SHARDING_KEY_HEADER } from "./nats/producer.js";
export { checkCozeStudio, checkCozeStudioEnv, KNOWN_DIFFERENCES } from "./nats/check.js";
export type { CozeCheck, CozeCheckReport, CheckStatus, CheckOptions, KnownDifference } from "./nats/check.js";

// Pulsar (COZE_MQ_TYPE=pulsar): the same API on persistent://public/default/<topic>, a Shared subscription per group.
export { CozeStudioPulsar, cozeStudioPulsar } from "./pulsar/client.js";
export type { CozeStudioPulsarOptions } from "./pulsar/client.js";
export { pulsarTopicOf, subscriptionOf, deadLetterTopicOf, COZEBUS_SUBSCRIPTION_TYPE, GO_SUBSCRIPTION_TYPE, GO_TENANT, GO_NAMESPACE } from "./pulsar/naming.js";
export { PULSAR_PROPS } from "./pulsar/producer.js";
export { DLQ_PROP } from "./pulsar/consumer.js";
export { checkCozeStudioPulsar, checkCozeStudioPulsarEnv, PULSAR_KNOWN_DIFFERENCES } from "./pulsar/check.js";
export type { PulsarCheckReport, PulsarCheckOptions } from "./pulsar/check.js";

// The migration bridge: legacy topics -> typed @cozebus/knowledge events, idempotently.
export { bridgeCozeStudio, bridgedEventId, legacyIdentity, BRIDGE_GROUP, BRIDGE_ORIGIN_HEADER, BRIDGE_KIND_HEADER, UNBRIDGED } from "./bridge.js";
export type { BridgeOptions, BridgeStats, CozeStudioBridge } from "./bridge.js";
