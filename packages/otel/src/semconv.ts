/**
 * Attribute and instrument names: the OpenTelemetry messaging semantic
 * conventions (and the CloudEvents ones) where they exist, `cozebus.*` where
 * they do not. Kept as plain strings: the messaging conventions are still
 * "incubating" upstream, and dashboards depend on these exact names.
 */
export const ATTR = {
  system: "messaging.system",
  operationName: "messaging.operation.name",
  operationType: "messaging.operation.type",
  destinationName: "messaging.destination.name",
  destinationTemplate: "messaging.destination.template",
  messageId: "messaging.message.id",
  bodySize: "messaging.message.body.size",
  batchCount: "messaging.batch.message_count",
  consumerGroup: "messaging.consumer.group.name",
  errorType: "error.type",
  ceId: "cloudevents.event_id",
  ceType: "cloudevents.event_type",
  ceSource: "cloudevents.event_source",
  ceSpecVersion: "cloudevents.event_spec_version",
  ceSubject: "cloudevents.event_subject",
  /** 1 on the first delivery of an event, 2 on its first redelivery, ... */
  attempt: "cozebus.delivery.attempt",
  /** The transport's own position of the stored event (`COZE_WORKFLOW#42`, a Pulsar message id). */
  position: "cozebus.message.position",
  qos: "cozebus.qos",
  domain: "cozebus.domain",
  /** What the handler's outcome asked: `ack`, `retry`, `dead-letter`. */
  outcome: "cozebus.outcome",
  retryDelay: "cozebus.retry.delay_ms",
  deadLetterReason: "cozebus.dead_letter.reason",
  /** On a settle span: false when the transport never said the outcome was carried out (the span ended after 30 s). */
  settleConfirmed: "cozebus.settle.confirmed",
  /** Lag gauges: where the group reads, in the broker's words (JetStream stream, Pulsar topic). */
  lagDestination: "cozebus.consumer.destination",
  /** Lag gauges: the broker's name for the group's position (JetStream durable consumer, Pulsar subscription). */
  lagConsumer: "cozebus.consumer.name",
} as const;

/** `messaging.operation.type` values. */
export const OP_TYPE = { send: "send", create: "create", process: "process", settle: "settle" } as const;

/** Instrument names (Prometheus: dots become underscores, plus a unit / `_total` suffix). */
export const METRIC = {
  sent: "messaging.client.sent.messages",
  consumed: "messaging.client.consumed.messages",
  processDuration: "messaging.process.duration",
  operationDuration: "messaging.client.operation.duration",
  retries: "cozebus.consumer.retries",
  deadLetters: "cozebus.consumer.dead_letters",
  active: "cozebus.consumer.active",
  heartbeats: "cozebus.consumer.heartbeats",
  windowInFlight: "cozebus.publish.window.in_flight",
  windowPeak: "cozebus.publish.window.peak",
  windowCapacity: "cozebus.publish.window.capacity",
  lagPending: "cozebus.consumer.lag.pending",
  lagAckPending: "cozebus.consumer.lag.ack_pending",
  lagRedelivered: "cozebus.consumer.lag.redelivered",
} as const;

/** The conventions' advice for duration histograms, in seconds. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
