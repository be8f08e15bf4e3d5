// The retry policy is the same for every transport: it lives in @cozebus/core.
export { DEFAULT_RETRY, retryPolicy, backoffDelay } from "@cozebus/core/transport";
export type { RetryPolicy, RetryPolicyInput, BackoffPolicy } from "@cozebus/core/transport";
