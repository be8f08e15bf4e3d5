/** A row's publish failed; the row stays and is retried with backoff. Reported through the relay's `onError`. */
export class OutboxPublishError extends Error {
  constructor(
    readonly eventId: string,
    readonly attempts: number,
    cause: unknown,
  ) {
    super(`outbox event ${eventId} was not published (attempt ${attempts}; ${cause instanceof Error ? cause.message : String(cause)}): the row stays and is retried`, { cause });
    this.name = "OutboxPublishError";
  }
}
