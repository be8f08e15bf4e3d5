import type { ConsumerHooks, ConsumerOptions, PulsarWire, WireConsumer, WireProducer } from "./types.js";
import { WsConsumer, type ConsumerSettings } from "./ws-consumer.js";
import { WsProducer, type ProducerSettings } from "./ws-producer.js";

/** The PulsarWire of the broker's WebSocket API (`/ws/v2/producer|consumer/...`). */
export class WebSocketWire implements PulsarWire {
  readonly #producers = new Set<WsProducer>();
  readonly #consumers = new Set<WsConsumer>();

  constructor(
    private readonly settings: ProducerSettings & ConsumerSettings,
    private readonly onError: (e: Error) => void,
  ) {}

  producer(topic: string): WireProducer {
    const p = new WsProducer(topic, this.settings, this.onError);
    this.#producers.add(p);
    return p;
  }

  async consumer(topic: string, subscription: string, options: ConsumerOptions, hooks: ConsumerHooks): Promise<WireConsumer> {
    const c = await WsConsumer.open(topic, subscription, this.settings, options, hooks);
    this.#consumers.add(c);
    const close = c.close.bind(c);
    return Object.assign(c, {
      close: async () => {
        this.#consumers.delete(c);
        await close();
      },
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.#consumers].map((c) => c.close()));
    await Promise.all([...this.#producers].map((p) => p.close()));
    this.#consumers.clear();
    this.#producers.clear();
  }
}
