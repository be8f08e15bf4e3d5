import {
  ConfigError,
  DEFAULT_RETRY,
  DecodeError,
  HandlerError,
  UnknownEventError,
  backoffDelay,
  failureKind,
  type Bus,
  type DeliveredMessage,
  type DurableConsumer,
  type InboundMessage,
  type JetStream,
  type RetryPolicyInput,
  type Subscription,
} from "@cozebus/nats";
import type { ConsumerOptions, CozeConsumer, CozeConsumerStats, CozeMessage } from "../api.js";
import type { CozeMode } from "../config.js";
import { DeliveryFailedError, EventDroppedError, isCozeStudioError, UnknownEventTypeError } from "../errors.js";
import { durableOf, GO_CONSUMER, queueGroupOf, streamNameOf, subjectOf } from "./naming.js";
import { SHARDING_KEY_HEADER } from "./producer.js";

/** Turns the received bytes into what the handler takes; throws the codec's errors. */
export type Decode<T> = (body: Uint8Array) => T;
export type Handle<T> = (event: T, message: CozeMessage) => void | Promise<void>;

export interface ConsumerHost {
  readonly bus: Bus;
  readonly mode: CozeMode;
  readonly js: JetStream | undefined;
  report(error: Error): void;
}

/** Consumer config fields cozebus sets on top of what nats.go's PullSubscribe creates; shared with the doctor check. */
export function consumerSettings(retry: RetryPolicyInput | undefined): { readonly maxDeliver: number; readonly ackWaitMs: number; readonly maxAckPending: number } {
  return {
    maxDeliver: retry?.maxDeliveries ?? DEFAULT_RETRY.maxDeliveries,
    ackWaitMs: retry?.ackWaitMs ?? DEFAULT_RETRY.ackWaitMs,
    // The value nats.go gives the consumer it creates: either side may create it, the limit stays the same.
    maxAckPending: GO_CONSUMER.max_ack_pending,
  };
}

const description = (topic: string, group: string): string => `cozebus coze-studio group ${group} on ${topic}`;

/** The codec's error as the error @cozebus/nats settles by: an unknown event type is handed back, anything else is a poison message. */
function decodeFailure(subject: string, err: unknown): Error {
  if (err instanceof UnknownEventTypeError || isCozeStudioError(err, "COZE_UNKNOWN_EVENT_TYPE")) {
    const e = err as UnknownEventTypeError;
    return new UnknownEventError(subject, `${e.field}=${e.eventType}`, `known: ${e.known.join(", ")}`);
  }
  return new DecodeError(subject, err instanceof Error ? err.message : String(err), { cause: err });
}

class Stats implements CozeConsumerStats {
  handled = 0;
  retried = 0;
  deadLettered = 0;
  dropped = 0;
}

function message(topic: string, group: string, m: InboundMessage, attempt: number, stream?: string, sequence?: number): CozeMessage {
  return {
    topic,
    group,
    body: m.data,
    shardingKey: m.headers.get(SHARDING_KEY_HEADER),
    id: m.event?.id ?? m.headers.get("Nats-Msg-Id"),
    headers: m.headers,
    attempt,
    ...(stream !== undefined ? { stream, sequence } : {}),
  };
}

/**
 * JetStream: the durable pull consumer named after the group on the
 * topic's stream, shared with Coze's Go consumers of the same group. What
 * @cozebus/nats adds (and Coze's Fetch(1)/Nak loop lacks): nak with backoff
 * instead of an immediate redelivery, a delivery limit and a dead letter
 * instead of looping forever, in-progress acks while a handler runs, and
 * poison messages dead-lettered with the reason.
 */
export async function consumeJetStream<T>(
  host: ConsumerHost,
  js: JetStream,
  topic: string,
  group: string,
  decode: Decode<T>,
  handle: Handle<T>,
  options: ConsumerOptions,
): Promise<CozeConsumer> {
  const stream = streamNameOf(topic);
  const durable = durableOf(group);
  const subject = subjectOf(topic);
  corePolicy(options.retry); // validate before anything reaches the server (a bad max_deliver would mean "unlimited" there)
  const settings = consumerSettings(options.retry);
  await createLikeGo(js, stream, durable, subject, settings, description(topic, group));
  const stats = new Stats();
  const report = options.onError ?? ((e: Error) => host.report(e));
  const run = async (m: DeliveredMessage): Promise<void> => {
    const msg = message(topic, group, m, m.delivery.attempt, m.delivery.stream, m.delivery.sequence);
    let event: T;
    try {
      event = decode(m.data);
    } catch (err) {
      throw decodeFailure(m.subject, err);
    }
    try {
      await handle(event, msg);
      stats.handled++;
    } catch (err) {
      if (failureKind(err) === "non-retryable" && options.nonRetryable !== "dead-letter") {
        stats.dropped++;
        report(new EventDroppedError(topic, group, err));
        return; // ack
      }
      throw err;
    }
  };
  const consumer: DurableConsumer = await js.consume({ stream, group: durable, description: description(topic, group) }, run, {
    concurrency: options.concurrency ?? 1,
    ...(options.retry !== undefined ? { retry: options.retry } : {}),
    maxAckPending: settings.maxAckPending,
    onError: report,
  });
  return {
    topic,
    group,
    mode: "jetstream",
    get stats(): CozeConsumerStats {
      const s = consumer.stats;
      return { handled: stats.handled, retried: s.retried, deadLettered: s.deadLettered, dropped: stats.dropped };
    },
    stop: () => consumer.stop(),
  };
}

/**
 * Creates the durable consumer as nats.go's PullSubscribe would (filter =
 * the subject, deliver all, ack explicit, replay instant), with cozebus's
 * delivery limit and ack wait, when it does not exist yet. If it exists
 * (Coze created it, or another instance did) it is left to @cozebus/nats's
 * explicit reconciliation, which updates only the limits it owns.
 */
async function createLikeGo(
  js: JetStream,
  stream: string,
  durable: string,
  subject: string,
  settings: ReturnType<typeof consumerSettings>,
  desc: string,
): Promise<void> {
  try {
    await js.jsm.consumers.info(stream, durable);
    return;
  } catch {
    // not found (or not readable: the add below reports what is wrong)
  }
  try {
    await js.jsm.consumers.add(stream, {
      durable_name: durable,
      description: desc,
      filter_subject: subject,
      deliver_policy: "all",
      ack_policy: "explicit",
      replay_policy: "instant",
      ack_wait: settings.ackWaitMs * 1_000_000,
      max_deliver: settings.maxDeliver,
      max_ack_pending: settings.maxAckPending,
    });
  } catch {
    // Created meanwhile by another instance or by Coze: consume() reconciles what is there.
  }
}

/**
 * Core NATS: a queue subscription named after the group on the bare topic,
 * shared with Coze's Go core consumers. Core cannot redeliver, so a failing
 * handler is retried in place with backoff (Coze's core consumer only logs
 * the error and loses the message) and, when the attempts run out, reported
 * as DeliveryFailedError. Undecodable messages are reported as DecodeError.
 */
export async function consumeCore<T>(
  host: ConsumerHost,
  topic: string,
  group: string,
  decode: Decode<T>,
  handle: Handle<T>,
  options: ConsumerOptions,
): Promise<CozeConsumer> {
  const policy = corePolicy(options.retry);
  const stats = new Stats();
  const report = options.onError ?? ((e: Error) => host.report(e));
  let stopping = false;
  const run = async (m: InboundMessage): Promise<void> => {
    let event: T;
    try {
      event = decode(m.data);
    } catch (err) {
      stats.deadLettered++;
      report(decodeFailure(m.subject, err));
      return;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await handle(event, message(topic, group, m, attempt));
        stats.handled++;
        return;
      } catch (err) {
        const kind = failureKind(err);
        if (kind === "non-retryable") {
          stats.dropped++;
          report(new EventDroppedError(topic, group, err));
          return;
        }
        if (kind !== "retryable" || attempt >= policy.maxDeliveries || stopping) {
          stats.deadLettered++;
          report(kind === "retryable" ? new DeliveryFailedError(topic, group, attempt, err) : new HandlerError(m.subject, err));
          return;
        }
        stats.retried++;
        report(new HandlerError(m.subject, err));
        const asked = (err as { delayMs?: unknown }).delayMs;
        await sleep(typeof asked === "number" && asked >= 0 ? asked : backoffDelay(policy.backoff, attempt));
      }
    }
  };
  const sub: Subscription = await host.bus.subscribe(subjectOf(topic), run, {
    queue: queueGroupOf(group),
    concurrency: options.concurrency ?? 1,
    onError: report,
  });
  return {
    topic,
    group,
    mode: "core",
    get stats(): CozeConsumerStats {
      return { ...stats };
    },
    stop: async () => {
      stopping = true;
      await sub.drain();
    },
  };
}

export function corePolicy(retry: RetryPolicyInput | undefined): { maxDeliveries: number; backoff: typeof DEFAULT_RETRY.backoff } {
  const maxDeliveries = retry?.maxDeliveries ?? DEFAULT_RETRY.maxDeliveries;
  if (!Number.isInteger(maxDeliveries) || maxDeliveries < 1) throw new ConfigError("retry.maxDeliveries", `expected an integer >= 1, got ${maxDeliveries}`);
  const ackWaitMs = retry?.ackWaitMs ?? DEFAULT_RETRY.ackWaitMs;
  if (!Number.isInteger(ackWaitMs) || ackWaitMs < 100) throw new ConfigError("retry.ackWaitMs", `expected an integer >= 100, got ${ackWaitMs}`);
  const backoff = { ...DEFAULT_RETRY.backoff, ...retry?.backoff };
  if (!Number.isInteger(backoff.initialMs) || backoff.initialMs < 0) throw new ConfigError("retry.backoff.initialMs", `expected an integer >= 0, got ${backoff.initialMs}`);
  if (!Number.isInteger(backoff.maxMs) || backoff.maxMs < backoff.initialMs) throw new ConfigError("retry.backoff.maxMs", `expected an integer >= ${backoff.initialMs}, got ${backoff.maxMs}`);
  if (!(backoff.multiplier >= 1)) throw new ConfigError("retry.backoff.multiplier", `expected a number >= 1, got ${backoff.multiplier}`);
  if (!(backoff.jitter >= 0 && backoff.jitter <= 1)) throw new ConfigError("retry.backoff.jitter", `expected a number from 0 to 1, got ${backoff.jitter}`);
  return { maxDeliveries, backoff };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
