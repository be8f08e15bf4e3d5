import { describe, expect, it } from "vitest";
import { DecodeError, NonRetryableError, RetryableError, UnknownEventError } from "../src/errors.js";
import { outcomeOfFailure } from "../src/policy/outcome.js";
import { retryPolicy } from "../src/policy/retry-policy.js";

const policy = retryPolicy({ maxDeliveries: 3, backoff: { initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0 } });

describe("outcomeOfFailure: one policy for every transport", () => {
  it("a plain error is retried with growing backoff, then dead-lettered as max-deliveries at the last delivery", () => {
    const err = new Error("boom");
    expect(outcomeOfFailure(err, 1, policy)).toEqual({ type: "retry", delayMs: 100, error: err });
    expect(outcomeOfFailure(err, 2, policy)).toEqual({ type: "retry", delayMs: 200, error: err });
    expect(outcomeOfFailure(err, 3, policy)).toEqual({ type: "dead-letter", reason: "max-deliveries", error: err });
  });

  it("a RetryableError's own delay wins over the backoff", () => {
    expect(outcomeOfFailure(new RetryableError("later", 5000), 1, policy)).toMatchObject({ type: "retry", delayMs: 5000 });
  });

  it("non-retryable and undecodable failures are dead-lettered at once, with their reason", () => {
    expect(outcomeOfFailure(new NonRetryableError("no"), 1, policy)).toMatchObject({ type: "dead-letter", reason: "non-retryable" });
    expect(outcomeOfFailure(new DecodeError("coze.x.1.y", "bad bytes"), 1, policy)).toMatchObject({ type: "dead-letter", reason: "undecodable" });
  });

  it("an unknown event is handed back while deliveries remain, then dead-lettered as unknown-event", () => {
    const err = new UnknownEventError("coze.x.1.y", "coze.x.v2.New", "x events of this build: a");
    expect(outcomeOfFailure(err, 1, policy)).toMatchObject({ type: "retry" });
    expect(outcomeOfFailure(err, 3, policy)).toMatchObject({ type: "dead-letter", reason: "unknown-event" });
  });

  it("an error thrown by another copy of the package is classified the same (brands, not instanceof)", () => {
    const foreign = Object.defineProperty(new Error("poison"), Symbol.for("cozebus.failure-kind"), { value: "undecodable" });
    expect(outcomeOfFailure(foreign, 1, policy)).toMatchObject({ type: "dead-letter", reason: "undecodable" });
  });
});
