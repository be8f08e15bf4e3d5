/**
 * Errors of @cozebus/coze-studio, in the style of @cozebus/nats: a stable
 * `code` to branch on, a message that says what was wrong, where and what to
 * do, and a registry-symbol brand so `isCozeStudioError` holds across two
 * installed copies of the package (where `instanceof` would not).
 *
 * Configuration problems are @cozebus/nats `ConfigError`s (code
 * CONFIG_INVALID, naming the variable), so one check covers both packages.
 */
export type CozeStudioErrorCode =
  /** The bytes are not JSON (or JSON this codec cannot hold, such as 1e400). */
  | "COZE_JSON_MALFORMED"
  /** Valid JSON whose shape does not fit the Go struct (wrong type, out of range). */
  | "COZE_PAYLOAD_INVALID"
  /** A message larger than the server accepts (its max_payload): refused before sending. */
  | "COZE_PAYLOAD_TOO_LARGE"
  /** An event whose `Type` / `op_type` this build does not know. */
  | "COZE_UNKNOWN_EVENT_TYPE"
  /** A topic or group that cannot be a NATS subject, stream or consumer name; a sharding key or id that cannot be sent. */
  | "COZE_NAME_INVALID"
  /** Some messages of a batch were not sent; `failures` says which. */
  | "COZE_SEND_FAILED"
  /** Core mode: the handler kept failing until the attempts ran out; the message is gone (core has no redelivery). */
  | "COZE_DELIVERY_FAILED"
  /** A handler threw a non-retryable error: the message was acknowledged and dropped, as Coze's knowledge handler does. */
  | "COZE_EVENT_DROPPED";

const BRAND = Symbol.for("cozebus.coze-studio.error");

export class CozeStudioError extends Error {
  constructor(
    readonly code: CozeStudioErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/** Whether `err` is an error of this package (optionally with this code), also when thrown by another copy of it. */
export function isCozeStudioError(err: unknown, code?: CozeStudioErrorCode): err is CozeStudioError {
  if (typeof err !== "object" || err === null || (err as { [BRAND]?: unknown })[BRAND] !== true) return false;
  return code === undefined || (err as CozeStudioError).code === code;
}

/** The payload is not JSON. `offset` is the character position where parsing stopped. */
export class JsonSyntaxError extends CozeStudioError {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super("COZE_JSON_MALFORMED", `malformed JSON at offset ${offset}: ${reason}`);
  }
}

/**
 * A value does not fit the Go struct it stands for. `path` points at it in
 * JSON terms (`$.Document.KnowledgeID`, `$.Documents[2].ID`), so a dead letter
 * says exactly which field of which message was wrong.
 */
export class PayloadError extends CozeStudioError {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super("COZE_PAYLOAD_INVALID", `${path}: ${reason}`);
  }
}

/** An event whose discriminator (`Type` of a knowledge event, `op_type` of a search event) this build does not know. */
export class UnknownEventTypeError extends CozeStudioError {
  constructor(
    /** The JSON field holding it. */
    readonly field: string,
    readonly eventType: string,
    readonly known: readonly string[],
  ) {
    super("COZE_UNKNOWN_EVENT_TYPE", `${field} ${JSON.stringify(eventType)} is not one this build knows (${known.join(", ")})`);
  }
}

/** A message the server would refuse for its size (max_payload, 1 MiB by default). */
export class PayloadTooLargeError extends CozeStudioError {
  constructor(
    readonly topic: string,
    readonly size: number,
    readonly maxPayload: number,
  ) {
    super("COZE_PAYLOAD_TOO_LARGE", `a ${size}-byte message to ${topic} exceeds the server's max_payload of ${maxPayload} bytes: nothing was sent; store large content elsewhere and send a reference, or raise max_payload on every server`);
  }
}

/** A topic, group, sharding key or message id that cannot be used as given. */
export class NameError extends CozeStudioError {
  constructor(
    readonly kind: "topic" | "group" | "sharding key" | "message id",
    readonly value: string,
    reason: string,
  ) {
    super("COZE_NAME_INVALID", `${kind} ${JSON.stringify(value)}: ${reason}`);
  }
}

/** Part of a batch was not sent. The sent ones are in `receipts` (undefined where it failed); resend only `failures`. */
export class BatchSendError<R> extends CozeStudioError {
  constructor(
    readonly topic: string,
    readonly receipts: ReadonlyArray<R | undefined>,
    readonly failures: ReadonlyArray<{ readonly index: number; readonly error: Error }>,
  ) {
    super(
      "COZE_SEND_FAILED",
      `${failures.length} of ${receipts.length} message(s) to ${topic} were not sent (indexes ${failures.map((f) => f.index).join(", ")}): ${failures[0]?.error.message ?? ""}`,
      { cause: failures[0]?.error },
    );
  }
}

/** Core mode gave up on a message after `attempts` failed handler runs. */
export class DeliveryFailedError extends CozeStudioError {
  constructor(
    readonly topic: string,
    readonly group: string,
    readonly attempts: number,
    cause: unknown,
  ) {
    super(
      "COZE_DELIVERY_FAILED",
      `core NATS message on ${topic} (group ${group}) failed ${attempts} time(s) and is dropped: core NATS cannot redeliver; use NATS_USE_JETSTREAM=true for at-least-once delivery (${cause instanceof Error ? cause.message : String(cause)})`,
      { cause },
    );
  }
}

/** A handler said the message cannot succeed (NonRetryableError): acknowledged and dropped, reported here. */
export class EventDroppedError extends CozeStudioError {
  constructor(
    readonly topic: string,
    readonly group: string,
    cause: unknown,
  ) {
    super("COZE_EVENT_DROPPED", `message on ${topic} (group ${group}) dropped: the handler threw a non-retryable error (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
  }
}
