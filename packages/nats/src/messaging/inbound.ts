import type { Msg } from "@nats-io/transport-node";
import { readEventMeta, viewHeaders, type EventMeta, type Headers } from "./headers.js";

/** A received message. Headers and event attributes are parsed on first use only. */
export interface InboundMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Headers;
  /** CloudEvents attributes; undefined when the sender set none (not a cozebus event). */
  readonly event: EventMeta | undefined;
  /** Reply subject of a request, if any. */
  readonly reply: string | undefined;
}

export class Inbound implements InboundMessage {
  #headers: Headers | undefined;
  #event: EventMeta | undefined | null = null;

  constructor(readonly msg: Msg) {}

  get subject(): string {
    return this.msg.subject;
  }

  get data(): Uint8Array {
    return this.msg.data;
  }

  get reply(): string | undefined {
    return this.msg.reply || undefined;
  }

  get headers(): Headers {
    this.#headers ??= viewHeaders(this.msg.headers);
    return this.#headers;
  }

  get event(): EventMeta | undefined {
    if (this.#event === null) this.#event = readEventMeta(this.msg.headers);
    return this.#event;
  }
}
