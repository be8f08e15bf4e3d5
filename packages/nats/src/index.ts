/**
 * @cozebus/nats — the core transport. This file is the whole public surface;
 * everything not exported here is internal and may change in any release.
 */
export { connect, openBus, openTransport } from "./connection/connect.js";
export { Bus } from "./connection/bus.js";
export type { PublishedEvent, RequestOptions, ServeOptions, DrainOptions } from "./connection/bus.js";
export type { BusEvents, BusEventName } from "./connection/events.js";
export { FEATURES, FEATURE_SINCE, atLeast as versionAtLeast } from "./connection/server-info.js";
export type { ServerInfo, ServerFeature } from "./connection/server-info.js";
export { drainOnSignals } from "./shutdown.js";
export type { DrainOnSignalsOptions } from "./shutdown.js";

export type { BusOptions, AuthOptions, TlsFileOptions, ReconnectOptions, Logger } from "./config/options.js";
export { resolveConfig, describeConfig } from "./config/resolve.js";
/** The nats.js options cozebus connects with for a config: a raw nats.js connection with the same servers, auth and TLS. */
export { clientOptions as natsConnectionOptions } from "./connection/client-options.js";
export type { ResolvedConfig } from "./config/resolve.js";
export { ENV } from "./config/env.js";
export type { EnvName } from "./config/env.js";

export { SubjectTemplate, checkToken, checkPublishSubject, checkSubscribePattern } from "./messaging/subject.js";
export type { TokenValue } from "./messaging/subject.js";
export { HEADER, PROTOBUF, newEventId } from "./messaging/headers.js";
export type { EventAttributes, EventMeta, Headers } from "./messaging/headers.js";
export type { InboundMessage } from "./messaging/inbound.js";
export type { MessageHandler, SubscribeOptions, Subscription } from "./messaging/subscription.js";
export type { Reply } from "./messaging/request.js";

export {
  CozebusError,
  ConfigError,
  SubjectError,
  ConnectError,
  AuthError,
  TlsError,
  PermissionError,
  NotConnectedError,
  ConnectionClosedError,
  NoRespondersError,
  RequestTimeoutError,
  RemoteError,
  ServiceError,
  HandlerError,
  SlowConsumerError,
  DrainTimeoutError,
  UnknownEventError,
  FeatureUnavailableError,
  isCozebusError,
  failureKind,
} from "./errors.js";
export type { CozebusErrorCode, FailureKind } from "./errors.js";

// JetStream: at-least-once delivery.
export { JetStream } from "./jetstream/client.js";
export type { JetStreamPublishOptions, BatchItem, BatchResult, PublishBatchOptions } from "./jetstream/client.js";
export type { PubAck, PublisherOptions } from "./jetstream/publisher.js";
export { DurableConsumer, durableName } from "./jetstream/consumer.js";
export type { ConsumerSpec, ConsumeOptions, ConsumerStatus, ConsumerStats, DeliveredMessage, DeliveryHandler, DeliveryInfo } from "./jetstream/consumer.js";
export { PartitionedConsumer } from "./jetstream/partitioned/consumer.js";
export type { PartitionedSpec, PartitionedOptions, PartitionedStatus, PartitionedStats, PartitionedDiagnostics } from "./jetstream/partitioned/consumer.js";
export type { PartitionLayout } from "./jetstream/partitioned/provision.js";
export { DEFAULT_RETRY, backoffDelay } from "./jetstream/retry-policy.js";
export type { RetryPolicy, RetryPolicyInput, BackoffPolicy } from "./jetstream/retry-policy.js";
export { DEFAULT_STREAM_LIMITS, DEFAULT_DLQ_LIMITS, domainStream, domainStreamName, deadLetterStream, streamNamePrefix, compareStream, provisionedBy } from "./jetstream/streams.js";
export type { StreamSpec, StreamLimits, StreamAllow, EnsureResult, StreamCheck, StreamDrift, PrunePlan, PruneChange } from "./jetstream/streams.js";
export { DeadLetters, DLQ_HEADER } from "./jetstream/dead-letters.js";
export type { DeadLetter, DeadLetterReason, DeadLetterListOptions } from "./jetstream/dead-letters.js";
export {
  StreamConfigError,
  NoStreamError,
  JetStreamUnavailableError,
  PublishRejectedError,
  PublishTimeoutError,
  SequenceConflictError,
  RetryableError,
  NonRetryableError,
  DecodeError,
} from "./errors.js";

// The inbox (idempotent consumer) in JetStream KV: a bucket per group.
export { NatsKvInboxStore, kvInboxKey } from "./kv/inbox-store.js";
export type { KvInboxOptions, KvInboxMode, KvInboxBucket } from "./kv/inbox-store.js";

// The transport port's NATS side, and the NATS-only parts of provisioning (stream specs for `cozebus streams`).
export { NatsTransport } from "./transport/nats-transport.js";
export { domainStreams, provisionDomain } from "./transport/provision.js";
export type { StreamProvisionResult } from "./transport/provision.js";

// The typed layer lives in @cozebus/core (the same on every transport); re-exported so a NATS service needs one import.
export { defineDomain, domainClient, EventClient, OperationClient, transportOf } from "@cozebus/core";
export type {
  Codec,
  EventDef,
  OperationDef,
  DomainDef,
  MessageOf,
  PartialOf,
  QualityOfService,
  Transport,
  TransportLike,
  TransportFeatures,
  EventContext,
  PublishOptions,
  PublishReceipt,
  PublishBatchCallOptions,
  BatchReceipt,
  EventSubscribeOptions,
  EventSubscription,
  RequestCallOptions,
  ServeOptions as OperationServeOptions,
  DomainClient,
  DomainClientOptions,
  DomainEvent,
  EventName,
  SubscribeAllOptions,
  ProvisionOptions,
  ProvisionResult,
} from "@cozebus/core";
