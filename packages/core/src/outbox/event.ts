import type { EventAddress, OutgoingEvent, QualityOfService } from "../port/transport.js";
import { SubjectTemplate } from "../subject/template.js";
import type { StoredAttributes } from "./attributes.js";

/** An outbox row's event columns, decoded from the dialect's types (JSON text or jsonb, epoch ms or timestamptz). */
export interface StoredEvent {
  readonly domain: string;
  readonly template: string;
  readonly fields: EventAddress["fields"];
  readonly data: Uint8Array;
  readonly attributes: StoredAttributes;
  readonly qos: QualityOfService;
  readonly ttlMs: number | null;
  readonly deliverAt: Date | null;
}

/** Turns stored rows back into the events that were enqueued; parses each subject template once per relay. */
export class StoredEventDecoder {
  readonly #templates = new Map<string, SubjectTemplate>();

  decode(row: StoredEvent): OutgoingEvent {
    let template = this.#templates.get(row.template);
    if (!template) this.#templates.set(row.template, (template = SubjectTemplate.parse(row.template)));
    const a = row.attributes;
    return {
      address: { domain: row.domain, template, fields: row.fields },
      // A view, not a copy: drivers hand Buffers, and the transport wants the bytes as they are.
      data: new Uint8Array(row.data.buffer, row.data.byteOffset, row.data.byteLength),
      attributes: { ...a, time: new Date(a.time) },
      qos: row.qos,
      ...(row.ttlMs !== null ? { ttlMs: row.ttlMs } : {}),
      ...(row.deliverAt !== null ? { deliverAt: row.deliverAt } : {}),
    };
  }
}
