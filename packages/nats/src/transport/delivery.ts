import type { Delivery, EventMeta, Headers } from "@cozebus/core/transport";
import type { DeliveredMessage } from "../jetstream/consumer.js";
import type { InboundMessage } from "../messaging/inbound.js";

/** A core NATS message as the port's Delivery: at most once, so always the first attempt. */
export class CoreDelivery implements Delivery {
  constructor(readonly m: InboundMessage) {}
  get subject(): string {
    return this.m.subject;
  }
  get data(): Uint8Array {
    return this.m.data;
  }
  get headers(): Headers {
    return this.m.headers;
  }
  get event(): EventMeta | undefined {
    return this.m.event;
  }
  get attempt(): number {
    return 1;
  }
  get position(): string | undefined {
    return undefined;
  }
  working(): void {
    // Nothing to keep alive: core NATS has no ack.
  }
}

/** A JetStream delivery as the port's Delivery; the consumer's heartbeat already keeps long handlers alive. */
export class StoredDelivery implements Delivery {
  constructor(readonly m: DeliveredMessage) {}
  get subject(): string {
    return this.m.subject;
  }
  get data(): Uint8Array {
    return this.m.data;
  }
  get headers(): Headers {
    return this.m.headers;
  }
  get event(): EventMeta | undefined {
    return this.m.event;
  }
  get attempt(): number {
    return this.m.delivery.attempt;
  }
  get position(): string {
    return `${this.m.delivery.stream}#${this.m.delivery.sequence}`;
  }
  working(): void {
    // The consumer sends +WPI for every event in progress on its own (heartbeats), so there is nothing to add.
  }
}
