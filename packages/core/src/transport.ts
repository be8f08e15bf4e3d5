/**
 * `@cozebus/core/transport`: for transport authors. The port a transport
 * implements, and the shared pieces every transport uses the same way
 * (subject tokens, the retry and dead-letter policy, error helpers).
 * Services never need this entry point.
 */
export type {
  QualityOfService,
  TransportFeatures,
  EventAddress,
  OutgoingAttributes,
  OutgoingEvent,
  Receipt,
  BatchResult,
  EventMeta,
  Headers,
  Delivery,
  Outcome,
  DeadLetterReason,
  DeliveryHandler,
  EventSelector,
  SubscriptionSpec,
  TransportSubscription,
  SubscriptionObserver,
  GroupLag,
  PublishWindow,
  Reply,
  RequestSpec,
  ServeSpec,
  ServedReply,
  DomainPlan,
  ProvisionOptions,
  RetentionLimits,
  ProvisionResult,
  Transport,
  TransportLike,
} from "./port/transport.js";
export { transportOf } from "./port/transport.js";
export { SubjectTemplate, checkToken, checkPrefix } from "./subject/template.js";
export type { TokenValue, TemplatePart } from "./subject/template.js";
export { DEFAULT_RETRY, retryPolicy, backoffDelay } from "./policy/retry-policy.js";
export type { RetryPolicy, RetryPolicyInput, BackoffPolicy } from "./policy/retry-policy.js";
export { ACK, outcomeOfFailure } from "./policy/outcome.js";
export { RecentIds } from "./policy/recent-ids.js";
export * from "./errors.js";
