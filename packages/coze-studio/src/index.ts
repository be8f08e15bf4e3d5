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
} from "./api.js";
export { modeFromEnv, cozeStudioBusOptions } from "./config.js";
export type { CozeMode, Env } from "./config.js";

// NATS: the names and settings Coze's Go code uses, and the client on a cozebus Bus.
export { CozeStudio, cozeStudio } from "./nats/client.js";
export type { CozeStudioOptions } from "./nats/client.js";
export { subjectOf, streamNameOf, queueGroupOf, durableOf, streamSpecOf, goStreamConfig, GO_STREAM_LIMITS, GO_CONSUMER } from "./nats/naming.js";
export { SHARDING_KEY_HEADER } from "./nats/producer.js";
export { checkCozeStudio, checkCozeStudioEnv, KNOWN_DIFFERENCES } from "./nats/check.js";
export type { CozeCheck, CozeCheckReport, CheckStatus, CheckOptions, KnownDifference } from "./nats/check.js";
