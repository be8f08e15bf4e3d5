/**
 * @cozebus/pulsar — the Apache Pulsar transport behind the cozebus port,
 * over the broker's WebSocket and admin REST APIs. This file is the whole
 * public surface.
 */
export { connectPulsar, openTransport } from "./connect.js";
export { PulsarTransport, PULSAR_FEATURES } from "./transport/pulsar-transport.js";
export { DeadLetters } from "./dead-letters.js";
export type { DeadLetter, ReplayResult, RemoveResult } from "./dead-letters.js";
export { drainOnSignals } from "./shutdown.js";
export type { DrainOnSignalsOptions } from "./shutdown.js";
export type { PulsarOptions } from "./config/options.js";
export { resolveConfig, describeConfig } from "./config/resolve.js";
export type { ResolvedConfig } from "./config/resolve.js";
export { ENV } from "./config/env.js";
export type { EnvName } from "./config/env.js";
export { topicLocalName, deadLetterLocalName, messageKey, DLQ_SUBSCRIPTION, PROP } from "./mapping.js";
export { readableMessageId } from "./wire/message-id.js";
export type { PulsarWire, WireProducer, WireConsumer, ConsumerOptions, ConsumerHooks, IncomingMessage, OutgoingMessage, SendReceipt, SubscriptionType } from "./wire/types.js";
// Below the port, for adapters that speak a deployment's own topic names (@cozebus/coze-studio): the wire and admin clients of a resolved config.
export { clientsFor } from "./connect.js";
export type { Admin, PeekedMessage, TopicStats, SubscriptionStats } from "./wire/admin.js";
