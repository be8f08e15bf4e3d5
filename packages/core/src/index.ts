/**
 * @cozebus/core — the typed layer every transport shares. This file is the
 * whole public surface for services; transport authors use
 * `@cozebus/core/transport`.
 */
export type { QualityOfService, TransportFeatures, Transport, TransportLike, Receipt, DeadLetterReason } from "./port/transport.js";
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
