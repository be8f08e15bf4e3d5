import { openBus, type Bus } from "@cozebus/nats";
import { startNatsServer, silentLogger, waitFor, type NatsServer } from "@cozebus/testing";
import { cozeStudio, cozeStudioBusOptions, type CozeStudio } from "../src/index.js";
import { cozeEnv } from "./go.js";

export { waitFor };

/** A fresh nats-server (the version NATS_SERVER_BIN names, else Debian's) and the cleanup of everything opened on it. */
export class World {
  readonly buses: Bus[] = [];
  readonly errors: Error[] = [];
  private constructor(readonly server: NatsServer, readonly jetstream: boolean) {}

  static async start(jetstream: boolean): Promise<World> {
    return new World(await startNatsServer({ jetstream: true }), jetstream);
  }

  /** The environment of a Coze deployment on this server. */
  get env(): Record<string, string> {
    return cozeEnv(this.server.url, this.jetstream);
  }

  async bus(): Promise<Bus> {
    const bus = await openBus(cozeStudioBusOptions({ env: this.env, logger: silentLogger, onError: (e) => this.errors.push(e) }));
    this.buses.push(bus);
    return bus;
  }

  /** A cozebus service joining the deployment: its own connection, mode from the environment. */
  async coze(): Promise<CozeStudio> {
    return cozeStudio(await this.bus(), { env: this.env, onError: (e) => this.errors.push(e) });
  }

  async stop(): Promise<void> {
    await Promise.all(this.buses.map((b) => b.drain({ timeoutMs: 5000 }).catch(() => undefined)));
    await this.server.stop();
  }
}

export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
