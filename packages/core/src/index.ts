/**
 * @cozebus/core — the typed layer every transport shares. This file is the
 * whole public surface for services; transport authors use
 * `@cozebus/core/transport`.
 */
export type { QualityOfService, TransportFeatures, Transport, TransportLike, Receipt, DeadLetterReason, Headers, EventMeta, ProvisionOptions, ProvisionResult, RetentionLimits, DomainPlan } from "./port/transport.js";
export { transportOf } from "./port/transport.js";
export { connect, transportName, TRANSPORT_PACKAGES } from "./connect.js";
export type { ConnectOptions, TransportName } from "./connect.js";

// The typed layer: the runtime behind generated domain packages, the same on every transport.
export { domainClient } from "./typed/domain-client.js";
export type { DomainClient, DomainClientOptions, DomainEvent, EventName, SubscribeAllOptions } from "./typed/domain-client.js";
export { EventClient } from "./typed/event-client.js";
export type { PublishOptions, PublishReceipt, PublishBatchCallOptions, BatchReceipt, EventSubscribeOptions, EventSubscription } from "./typed/event-client.js";
export type { EventContext } from "./typed/context.js";
export type { IdempotencyOptions } from "./typed/settle.js";
export { OperationClient } from "./typed/operation-client.js";
export type { RequestCallOptions, ServeOptions } from "./typed/operation-client.js";
export { defineDomain } from "./typed/define.js";
export type { Codec, EventDef, OperationDef, DomainDef, MessageOf, PartialOf } from "./typed/define.js";
export { SubjectTemplate, checkToken } from "./subject/template.js";
export type { TokenValue } from "./subject/template.js";
export { DEFAULT_RETRY, backoffDelay } from "./policy/retry-policy.js";
export type { RetryPolicy, RetryPolicyInput, BackoffPolicy } from "./policy/retry-policy.js";
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
  StreamConfigError,
  NoStreamError,
  JetStreamUnavailableError,
  PublishRejectedError,
  PublishTimeoutError,
  SequenceConflictError,
  RetryableError,
  NonRetryableError,
  DecodeError,
  UnknownEventError,
  FeatureUnavailableError,
  isCozebusError,
  failureKind,
} from "./errors.js";
export type { CozebusErrorCode, FailureKind } from "./errors.js";
