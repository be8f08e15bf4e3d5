import { randomUUID } from "node:crypto";
import { FeatureUnavailableError, PublishTimeoutError, type OutgoingEvent, type Receipt } from "@cozebus/core/transport";
import { PROP, eventProperties, fullTopic, messageKey, subjectOf, topicLocalName, type Names } from "../mapping.js";
import { readableMessageId } from "../wire/message-id.js";
import type { OutgoingMessage, PulsarWire, WireProducer } from "../wire/types.js";
import { SendTimeoutError } from "../wire/ws-producer.js";

/** One producer per topic, opened on first use and kept: topics are per event type, so there are few. */
export class Publisher {
  readonly #producers = new Map<string, WireProducer>();

  constructor(
    private readonly wire: PulsarWire,
    private readonly names: Names,
  ) {}

  producer(topic: string): WireProducer {
    let p = this.#producers.get(topic);
    if (!p) {
      p = this.wire.producer(topic);
      this.#producers.set(topic, p);
    }
    return p;
  }

  topicOf(event: Pick<OutgoingEvent, "address">): string {
    return fullTopic(this.names, topicLocalName(event.address.template, this.names.root));
  }

  /** Validates and builds everything before sending, so a refused option never half-sends. */
  prepare(event: OutgoingEvent): { topic: string; subject: string; id: string; message: OutgoingMessage } {
    if (event.ttlMs !== undefined) {
      throw new FeatureUnavailableError(
        "message-ttl",
        "Pulsar has no per-message TTL (only a namespace-wide message TTL, set by operators with `pulsar-admin namespaces set-message-ttl`); publish without ttlMs",
      );
    }
    const subject = subjectOf(event.address, this.names.root);
    const id = event.attributes.id ?? randomUUID();
    const properties = eventProperties(subject, event.attributes, id);
    let deliverAfterMs: number | undefined;
    if (event.deliverAt !== undefined) {
      const at = event.deliverAt.getTime();
      if (!Number.isFinite(at)) throw new FeatureUnavailableError("delayed-delivery", "deliverAt is not a valid date");
      // The broker's tracker may dispatch up to one tick (1 s) early; consumers hold the event until this time.
      properties[PROP.deliverAt] = String(at);
      deliverAfterMs = Math.max(0, at - Date.now());
    }
    const message: OutgoingMessage = {
      data: event.data,
      key: messageKey(event.address.template, event.address.fields),
      properties,
      ...(deliverAfterMs !== undefined && deliverAfterMs > 0 ? { deliverAfterMs } : {}),
    };
    return { topic: this.topicOf(event), subject, id, message };
  }

  async publish(event: OutgoingEvent): Promise<Receipt> {
    const { topic, subject, id, message } = this.prepare(event);
    try {
      const r = await this.producer(topic).send(message);
      return { id, subject, qos: "at-least-once", position: readableMessageId(r.messageId) };
    } catch (err) {
      if (err instanceof SendTimeoutError) throw new PublishTimeoutError(subject, id, err.attempts, err.elapsedMs);
      throw err;
    }
  }

  async flush(): Promise<void> {
    await Promise.all([...this.#producers.values()].map((p) => p.flush()));
  }

  async close(): Promise<void> {
    await Promise.all([...this.#producers.values()].map((p) => p.close()));
    this.#producers.clear();
  }
}
