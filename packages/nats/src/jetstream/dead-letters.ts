import { headers as natsHeaders, Match, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { JetStreamApiCodes, PubHeaders, type JetStreamManager } from "@nats-io/jetstream";
import { PermissionError, describe } from "../errors.js";
import { HEADER } from "../messaging/headers.js";
import { viewHeaders, type Headers } from "../messaging/headers.js";
import type { JetStreamPublisher, PubAck } from "./publisher.js";
import { apiCode } from "./streams.js";

/** Headers a dead letter carries on top of the original event's. */
export const DLQ_HEADER = {
  subject: "Cozebus-Dlq-Subject",
  stream: "Cozebus-Dlq-Stream",
  sequence: "Cozebus-Dlq-Sequence",
  consumer: "Cozebus-Dlq-Consumer",
  deliveries: "Cozebus-Dlq-Deliveries",
  reason: "Cozebus-Dlq-Reason",
  error: "Cozebus-Dlq-Error",
  time: "Cozebus-Dlq-Time",
} as const;

/**
 * Why an event was dead-lettered. "unknown-event": no build that handled it
 * knew its type (a newer build's event during a rolling upgrade); replay it
 * once a build that knows it runs.
 */
export type DeadLetterReason = "non-retryable" | "undecodable" | "max-deliveries" | "abandoned" | "unknown-event";

export interface DeadLetterOrigin {
  readonly subject: string;
  readonly stream: string;
  readonly sequence: number;
  readonly consumer: string;
  readonly deliveries: number;
  readonly reason: DeadLetterReason;
  readonly error: string;
}

/** One dead letter as stored in the DLQ stream. */
export interface DeadLetter extends DeadLetterOrigin {
  /** Sequence in the DLQ stream (what `get`, `replay` and `remove` take). */
  readonly seq: number;
  readonly time: Date;
  /** The original payload, byte for byte. */
  readonly data: Uint8Array;
  /** The original headers (CloudEvents and application), without the Cozebus-Dlq-* ones. */
  readonly headers: Headers;
  /** The original event's id, when it had one. */
  readonly eventId: string | undefined;
  readonly eventType: string | undefined;
}

const ONE_LINE = (s: string): string => s.replace(/[\r\n]+/g, " ").slice(0, 1024);

/**
 * Writes dead letters. The DLQ entry's Nats-Msg-Id is derived from the
 * origin (stream + sequence), so the handler path and the max-deliveries
 * advisory path can both fire for one message without storing it twice.
 */
export async function writeDeadLetter(
  publisher: JetStreamPublisher,
  dlqSubject: string,
  data: Uint8Array,
  original: MsgHdrs | undefined,
  origin: DeadLetterOrigin,
): Promise<PubAck> {
  const h = natsHeaders();
  if (original) {
    for (const [k, values] of original) {
      if (k.toLowerCase() === PubHeaders.MsgIdHdr.toLowerCase()) continue;
      for (const v of values) h.append(k, v);
    }
  }
  const id = `dlq-${origin.stream}-${origin.sequence}`;
  h.set(PubHeaders.MsgIdHdr, id);
  h.set(DLQ_HEADER.subject, origin.subject);
  h.set(DLQ_HEADER.stream, origin.stream);
  h.set(DLQ_HEADER.sequence, String(origin.sequence));
  h.set(DLQ_HEADER.consumer, origin.consumer);
  h.set(DLQ_HEADER.deliveries, String(origin.deliveries));
  h.set(DLQ_HEADER.reason, origin.reason);
  h.set(DLQ_HEADER.error, ONE_LINE(origin.error) || "(no message)");
  h.set(DLQ_HEADER.time, new Date().toISOString());
  return publisher.publish(dlqSubject, data, h, id);
}

function parse(seq: number, data: Uint8Array, h: MsgHdrs | undefined, time: Date): DeadLetter {
  const get = (k: string): string => h?.get(k, Match.IgnoreCase) ?? "";
  const original = natsHeaders();
  if (h) {
    for (const [k, values] of h) {
      if (k.toLowerCase().startsWith("cozebus-dlq-")) continue;
      for (const v of values) original.append(k, v);
    }
  }
  return {
    seq,
    time: new Date(get(DLQ_HEADER.time) || time.toISOString()),
    subject: get(DLQ_HEADER.subject),
    stream: get(DLQ_HEADER.stream),
    sequence: Number(get(DLQ_HEADER.sequence)),
    consumer: get(DLQ_HEADER.consumer),
    deliveries: Number(get(DLQ_HEADER.deliveries)),
    reason: get(DLQ_HEADER.reason) as DeadLetterReason,
    error: get(DLQ_HEADER.error),
    data,
    headers: viewHeaders(original),
    eventId: get(HEADER.id) || undefined,
    eventType: get(HEADER.type) || undefined,
  };
}

export interface DeadLetterListOptions {
  /** Most entries to return (default 100). */
  readonly limit?: number;
  /** Start at this DLQ sequence (default: the oldest). */
  readonly fromSeq?: number;
  /** Only entries that came from this stream. */
  readonly stream?: string;
  /** Only entries dead-lettered for this reason (e.g. "unknown-event" once a build that knows them runs). */
  readonly reason?: DeadLetterReason;
}

/** Reads, replays and removes dead letters. */
export class DeadLetters {
  constructor(
    private readonly jsm: JetStreamManager,
    private readonly publisher: JetStreamPublisher,
    /** The DLQ stream's name. */
    readonly stream: string,
  ) {}

  /** Entries in the DLQ stream, oldest first. */
  async list(options: DeadLetterListOptions = {}): Promise<DeadLetter[]> {
    const info = await this.jsm.streams.info(this.stream);
    const out: DeadLetter[] = [];
    if (info.state.messages === 0) return out;
    const limit = options.limit ?? 100;
    let seq = Math.max(options.fromSeq ?? 1, info.state.first_seq, 1);
    while (out.length < limit && seq <= info.state.last_seq) {
      const entry = await this.get(seq);
      if (entry && (options.stream === undefined || entry.stream === options.stream) && (options.reason === undefined || entry.reason === options.reason)) out.push(entry);
      seq++;
    }
    return out;
  }

  /** Number of dead letters stored. */
  async count(): Promise<number> {
    return (await this.jsm.streams.info(this.stream)).state.messages;
  }

  /** One entry, or undefined when that sequence was removed. */
  async get(seq: number): Promise<DeadLetter | undefined> {
    try {
      const m = await this.jsm.streams.getMessage(this.stream, { seq });
      if (m === null) return undefined;
      return parse(m.seq, m.data, m.header, m.time);
    } catch (err) {
      if (apiCode(err) === JetStreamApiCodes.NoMessageFound) return undefined; // removed from the DLQ
      throw err;
    }
  }

  /**
   * Publishes the original bytes and headers again to the original subject,
   * then (by default) removes the entry. The replay keeps the event's ce-id,
   * so idempotent handlers recognise it, but gets its own Nats-Msg-Id
   * (`<ce-id>.replay.<dlq seq>`): the original id may still be inside the
   * duplicate window, where the stream would drop it as a duplicate.
   */
  async replay(seq: number, options: { readonly remove?: boolean } = {}): Promise<PubAck> {
    const entry = await this.get(seq);
    if (entry === undefined) throw new Error(`no dead letter with sequence ${seq} in ${this.stream}`);
    const h = natsHeaders();
    for (const [k, values] of entry.headers.entries()) {
      if (k.toLowerCase() === PubHeaders.MsgIdHdr.toLowerCase()) continue;
      for (const v of values) h.append(k, v);
    }
    const id = `${entry.eventId ?? "event"}.replay.${seq}`;
    h.set(PubHeaders.MsgIdHdr, id);
    const ack = await this.publisher.publish(entry.subject, entry.data, h, id);
    if (options.remove !== false) await this.remove(seq);
    return ack;
  }

  /** Replays every entry (optionally only those from one stream, or of one reason); returns how many. */
  async replayAll(options: Pick<DeadLetterListOptions, "stream" | "reason"> = {}): Promise<number> {
    let n = 0;
    for (;;) {
      const batch = await this.list({ ...options, limit: 100 });
      if (batch.length === 0) return n;
      for (const entry of batch) {
        await this.replay(entry.seq);
        n++;
      }
    }
  }

  async remove(seq: number): Promise<boolean> {
    return this.jsm.streams.deleteMessage(this.stream, seq, false);
  }
}

/** Payload of `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>`. */
export interface MaxDeliveriesAdvisory {
  readonly stream: string;
  readonly consumer: string;
  readonly stream_seq: number;
  readonly deliveries: number;
  /** The JetStream domain of the server that sent it, when that server has one. */
  readonly domain?: string;
}

/**
 * Where the server advises that a message ran out of deliveries. Unlike the
 * API, advisories are not under the API prefix: a JetStream in domain `hub`
 * publishes them on this same subject in the account, and a leaf node
 * passes them on (it blocks only `$JS.API.>`), so a client on the leaf
 * receives them. nats.js has no constant for it.
 */
export function maxDeliveriesSubject(stream: string, consumer: string): string {
  return `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`;
}

export interface WatcherHost {
  readonly nc: NatsConnection;
  /** Bound to the configured domain or API prefix, like every read of the stream. */
  readonly jsm: JetStreamManager;
  readonly publisher: JetStreamPublisher;
  /**
   * The configured JetStream domain. Advisories do not carry it in their
   * subject, so one from a same-named stream in another domain (a leaf's
   * own JetStream) is told apart by the domain in its payload.
   */
  readonly domain?: string | undefined;
  dlqSubject(stream: string, consumer: string): string;
}

/**
 * Dead-letters messages that ran out of deliveries without any handler
 * settling them (the process died or hung past the ack wait each time):
 * nothing else would ever see them again. Listens to the server's
 * max-deliveries advisory in a queue group, so one instance per consumer
 * group writes each entry; the DLQ id (stream + sequence) makes a second
 * write harmless anyway. Returns a function that stops watching.
 */
export function watchAbandoned(
  host: WatcherHost,
  stream: string,
  consumer: string,
  report: (error: Error) => void,
  onDeadLettered: () => void = () => undefined,
): () => void {
  const subject = maxDeliveriesSubject(stream, consumer);
  const sub = host.nc.subscribe(subject, {
    queue: `cozebus-dlq-${consumer}`,
    callback: (err, msg) => {
      if (err) {
        // Only a refused subscription gets here: say so, since abandoned events would then stay unnoticed.
        report(new PermissionError(`events of ${stream}/${consumer} whose handler never returns will not be dead-lettered: the server refused the subscription to "${subject}" (${describe(err)}); allow this user to subscribe to "${maxDeliveriesSubject("*", "*")}"`, { cause: err }));
        return;
      }
      void (async () => {
        let adv: MaxDeliveriesAdvisory | undefined;
        try {
          adv = msg.json<MaxDeliveriesAdvisory>();
          if (host.domain !== undefined && adv.domain !== undefined && adv.domain !== "" && adv.domain !== host.domain) return; // another domain's stream
          const stored = await host.jsm.streams.getMessage(adv.stream, { seq: adv.stream_seq });
          if (stored === null) return; // already gone (e.g. removed by limits)
          await writeDeadLetter(host.publisher, host.dlqSubject(adv.stream, adv.consumer), stored.data, stored.header, {
            subject: stored.subject,
            stream: adv.stream,
            sequence: adv.stream_seq,
            consumer: adv.consumer,
            deliveries: adv.deliveries,
            reason: "abandoned",
            error: `no ack after ${adv.deliveries} deliveries: the handler never returned (process crashed, was killed, or hung past the ack wait)`,
          });
          onDeadLettered();
        } catch (e) {
          // Inside the try, a malformed advisory is reported too instead of becoming an unhandled rejection.
          const what = adv === undefined ? `an unreadable advisory on "${msg.subject}"` : `${adv.stream}#${adv.stream_seq} after max deliveries`;
          report(new Error(`could not dead-letter ${what}: ${describe(e)}`));
        }
      })();
    },
  });
  return () => sub.unsubscribe();
}
