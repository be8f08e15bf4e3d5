/**
 * Every error cozebus throws is a `CozebusError` with a stable `code`, so
 * callers can branch on `err.code` instead of parsing messages. Messages say
 * what was wrong, where (variable, subject, field) and what to do; they never
 * contain a secret.
 */
export type CozebusErrorCode =
  | "CONFIG_INVALID"
  | "SUBJECT_INVALID"
  | "CONNECT_FAILED"
  | "AUTH_FAILED"
  | "TLS_FAILED"
  | "NOT_CONNECTED"
  | "PERMISSION_DENIED"
  | "CONNECTION_CLOSED"
  | "NO_RESPONDERS"
  | "REQUEST_TIMEOUT"
  | "REMOTE_ERROR"
  | "HANDLER_FAILED"
  | "SLOW_CONSUMER"
  | "DRAIN_TIMEOUT"
  | "STREAM_CONFLICT"
  | "NO_STREAM"
  | "JETSTREAM_UNAVAILABLE"
  | "PUBLISH_REJECTED"
  | "PUBLISH_TIMEOUT"
  | "SEQUENCE_CONFLICT"
  | "UNKNOWN_EVENT"
  | "FEATURE_UNAVAILABLE"
  // The inbox (idempotent consumer), packages/core/src/inbox.
  | "INBOX_UNAVAILABLE"
  | "INBOX_BUSY"
  | "ALREADY_HANDLED"
  | "LEASE_LOST";

/**
 * Marks cozebus errors with a registry symbol, so that checks hold across two
 * installed copies of the package (a domain package may bring its own), where
 * `instanceof` would fail.
 */
const BRAND = Symbol.for("cozebus.error");

/** How a handler's failure is settled: retried, dead-lettered at once, or handed back as unknown. */
export type FailureKind = "retryable" | "non-retryable" | "undecodable" | "unknown-event";
const KIND = Symbol.for("cozebus.failure-kind");

/** The settlement kind of a handler's error, across package copies; plain errors are retryable. */
export function failureKind(err: unknown): FailureKind {
  const k = (err as { [KIND]?: unknown } | null)?.[KIND];
  return k === "non-retryable" || k === "undecodable" || k === "unknown-event" ? k : "retryable";
}

/** Whether `err` is a cozebus error (optionally with this code), also when thrown by another copy of the package. */
export function isCozebusError(err: unknown, code?: CozebusErrorCode): err is CozebusError {
  if (typeof err !== "object" || err === null || (err as { [BRAND]?: unknown })[BRAND] !== true) return false;
  return code === undefined || (err as CozebusError).code === code;
}

export class CozebusError extends Error {
  constructor(
    readonly code: CozebusErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/** A configuration value (option or environment variable) is invalid. */
export class ConfigError extends CozebusError {
  constructor(
    /** The environment variable or option path at fault, e.g. `NATS_STREAM_REPLICAS` or `options.servers`. */
    readonly variable: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super("CONFIG_INVALID", `${variable}: ${message}`, options);
  }
}

/** A value cannot be placed in a subject (it would change the subject's shape). */
export class SubjectError extends CozebusError {
  constructor(
    message: string,
    /** The template field at fault, when there is one. */
    readonly field?: string,
  ) {
    super("SUBJECT_INVALID", message);
  }
}

/** Connecting failed for a reason other than credentials or TLS (unreachable, timeout). */
export class ConnectError extends CozebusError {
  constructor(message: string, options?: ErrorOptions) {
    super("CONNECT_FAILED", message, options);
  }
}

/** The server refused the credentials. */
export class AuthError extends CozebusError {
  constructor(message: string, options?: ErrorOptions) {
    super("AUTH_FAILED", message, options);
  }
}

/** The TLS handshake failed (untrusted certificate, TLS required or not offered, client certificate missing). */
export class TlsError extends CozebusError {
  constructor(message: string, options?: ErrorOptions) {
    super("TLS_FAILED", message, options);
  }
}

/** Core NATS drops publishes made while disconnected; cozebus refuses them instead, so nothing vanishes silently. */
export class NotConnectedError extends CozebusError {
  constructor(readonly subject: string) {
    super("NOT_CONNECTED", `not connected to NATS (reconnecting): the message to "${subject}" was not sent; retry after the "reconnected" event`);
  }
}

/** The server refused a publish or subscription under this user's permissions. */
export class PermissionError extends CozebusError {
  constructor(message: string, options?: ErrorOptions) {
    super("PERMISSION_DENIED", message, options);
  }
}

export class ConnectionClosedError extends CozebusError {
  constructor(what: string) {
    super("CONNECTION_CLOSED", `the bus is closed or draining: ${what}`);
  }
}

/** No service was listening on the request's subject. */
export class NoRespondersError extends CozebusError {
  constructor(readonly subject: string, options?: ErrorOptions) {
    super("NO_RESPONDERS", `no service is listening on "${subject}": start one (serve) before sending requests, or check the subject prefix`, options);
  }
}

/** A request got no reply in time. */
export class RequestTimeoutError extends CozebusError {
  constructor(readonly subject: string, readonly timeoutMs: number, options?: ErrorOptions) {
    super("REQUEST_TIMEOUT", `no reply on "${subject}" within ${timeoutMs} ms: the service is slow or stuck; raise the timeout or check the service`, options);
  }
}

/** The serving side threw: its message and code travel back to the requester. */
export class RemoteError extends CozebusError {
  constructor(
    readonly subject: string,
    /** The service's error code (HTTP-like, 500 when it threw a plain error). */
    readonly remoteCode: number,
    readonly remoteMessage: string,
  ) {
    super("REMOTE_ERROR", `the service on "${subject}" failed (${remoteCode}): ${remoteMessage}`);
  }
}

/**
 * Throw from a `serve` handler to answer with a specific error code
 * (for example 400 for a bad request); other errors are answered as 500.
 */
export class ServiceError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ServiceError";
  }
}

/** A user handler threw or rejected. Reported to the error hook; the subscription goes on. */
export class HandlerError extends CozebusError {
  constructor(readonly subject: string, cause: unknown) {
    super("HANDLER_FAILED", `handler for "${subject}" failed: ${describe(cause)}`, { cause });
  }
}

/** A core subscription's handler fell too far behind; the message was dropped (core is at most once). */
export class SlowConsumerError extends CozebusError {
  constructor(readonly subject: string, readonly pending: number) {
    super("SLOW_CONSUMER", `handler for "${subject}" is ${pending} messages behind: the message was dropped; raise concurrency or maxPending, or use JetStream`);
  }
}

export class DrainTimeoutError extends CozebusError {
  constructor(readonly timeoutMs: number, readonly inFlight: number) {
    super("DRAIN_TIMEOUT", `drain gave up after ${timeoutMs} ms with ${inFlight} handler(s) still running`);
  }
}

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A stream exists with settings that cannot be changed in place, or the server refused the change. */
export class StreamConfigError extends CozebusError {
  constructor(readonly stream: string, message: string, options?: ErrorOptions) {
    super("STREAM_CONFLICT", `stream ${stream}: ${message}`, options);
  }
}

/** No JetStream stream captures the subject: the event would go nowhere. */
export class NoStreamError extends CozebusError {
  constructor(readonly subject: string) {
    super("NO_STREAM", `no JetStream stream captures "${subject}": provision the domain's stream first (ensureStream / "cozebus streams apply"), or check the subject prefix`);
  }
}

/** JetStream is off on the server or for this account. */
export class JetStreamUnavailableError extends CozebusError {
  constructor(message: string, options?: ErrorOptions) {
    super("JETSTREAM_UNAVAILABLE", message, options);
  }
}

/** The stream refused the event for good (full with discard=new, message too large, ...). Retrying will not help. */
export class PublishRejectedError extends CozebusError {
  constructor(readonly subject: string, readonly errCode: number, readonly description: string) {
    super("PUBLISH_REJECTED", `the stream refused the event on "${subject}" (${errCode}): ${description}`);
  }
}

/** No stream ack arrived within the retry budget; the event may or may not be stored (resend it with the same id). */
export class PublishTimeoutError extends CozebusError {
  constructor(readonly subject: string, readonly id: string, readonly attempts: number, readonly elapsedMs: number) {
    super(
      "PUBLISH_TIMEOUT",
      `no ack for event ${id} on "${subject}" after ${attempts} attempt(s) over ${elapsedMs} ms; it is safe to publish it again with the same id within the stream's duplicate window`,
    );
  }
}

/** Optimistic concurrency: the subject's last sequence was not the expected one. */
export class SequenceConflictError extends CozebusError {
  constructor(readonly subject: string, readonly expected: number, readonly description: string) {
    super("SEQUENCE_CONFLICT", `"${subject}" moved on: expected last sequence ${expected} (${description}); re-read and retry`);
  }
}

/**
 * Throw from a JetStream handler for a failure worth retrying; `delayMs`
 * overrides the policy's backoff for this attempt. Any other error is
 * treated the same way (retried with backoff).
 */
export class RetryableError extends Error {
  constructor(message: string, readonly delayMs?: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "RetryableError";
    Object.defineProperty(this, KIND, { value: "retryable", configurable: true });
  }
}

/** The delay a RetryableError asks for, across package copies. */
export function retryDelayOf(err: unknown): number | undefined {
  if (failureKind(err) !== "retryable") return undefined;
  const d = (err as { delayMs?: unknown } | null)?.delayMs;
  return typeof d === "number" && Number.isFinite(d) && d >= 0 ? d : undefined;
}

/** Throw from a JetStream handler when retrying cannot help: the event goes to the dead-letter stream at once. */
export class NonRetryableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NonRetryableError";
    Object.defineProperty(this, KIND, { value: "non-retryable", configurable: true });
  }
}

/** The payload cannot be decoded (a poison message): dead-lettered at once, never retried. */
export class DecodeError extends NonRetryableError {
  constructor(readonly subject: string, message: string, options?: ErrorOptions) {
    super(`cannot decode the event on "${subject}": ${message}`, options);
    this.name = "DecodeError";
    Object.defineProperty(this, KIND, { value: "undecodable", configurable: true });
  }
}

/**
 * A consumer received an event it cannot name: its type (ce-type) or
 * subject belongs to no event this build knows — typically a newer build's
 * event during a rolling upgrade. It is never acked away: handed back for
 * another instance while deliveries remain, then dead-lettered with the
 * reason "unknown-event", to be replayed once a build that knows it runs.
 */
export class UnknownEventError extends CozebusError {
  constructor(
    readonly subject: string,
    readonly eventType: string | undefined,
    known: string,
  ) {
    super("UNKNOWN_EVENT", `${eventType !== undefined ? `event type ${eventType}` : "an event without ce-type"} on "${subject}" is not one this build knows (${known}): handed back, and dead-lettered as unknown-event after the last delivery; replay it once a build that knows it runs`);
    Object.defineProperty(this, KIND, { value: "unknown-event", configurable: true });
  }
}

/**
 * A publish or subscribe option the connection cannot carry out: the server
 * is too old, or the event's delivery has no such thing (core NATS keeps
 * nothing, so nothing can expire or wait there). Refused, never ignored.
 */
export class FeatureUnavailableError extends CozebusError {
  constructor(
    readonly feature: string,
    message: string,
  ) {
    super("FEATURE_UNAVAILABLE", `${feature}: ${message}`);
  }
}
