import { headers as natsHeaders, nuid, type NatsConnection } from "@nats-io/transport-node";
import type { JetStreamManager } from "@nats-io/jetstream";
import { describe } from "../../errors.js";
import { HEADER } from "../../messaging/headers.js";
import { membersSubject } from "./plan.js";

export interface MembershipOptions {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly prefix: string;
  readonly membersStream: string;
  readonly partitionStream: string;
  readonly id: string;
  readonly heartbeatMs: number;
  readonly ttlMs: number;
  /** Called after every poll with the live members (always including this one), sorted. */
  readonly onView: (members: readonly string[]) => Promise<void>;
  readonly report: (error: Error) => void;
}

/**
 * This instance's membership of a partitioned group: a heartbeat every
 * `heartbeatMs` to its own subject of the members stream, with a per-message
 * TTL, and a poll of which members' heartbeats are alive (expiry is decided
 * on the server's clock). Polls run one at a time; a slow server delays the
 * view, it never stacks calls.
 */
export class Membership {
  readonly #o: MembershipOptions;
  readonly #subject: string;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #failing = false;
  #running: Promise<void> = Promise.resolve();

  constructor(options: MembershipOptions) {
    this.#o = options;
    this.#subject = membersSubject(options.prefix, options.partitionStream, options.id);
  }

  /** Heartbeats once and computes the first view before resolving. */
  async start(): Promise<void> {
    await this.#tick();
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#tick().finally(() => this.#schedule());
    }, this.#o.heartbeatMs);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.#heartbeat();
      const members = await this.#list();
      if (this.#failing) this.#failing = false;
      if (!this.#stopped) await this.#o.onView(members);
    } catch (err) {
      // Reported once per outage, not every tick; the last view stays in force meanwhile.
      if (!this.#failing) this.#o.report(new Error(`partitioned group ${this.#o.partitionStream}: membership heartbeat or poll failed (${describe(err)}); keeping the last view`));
      this.#failing = true;
    }
  }

  async #heartbeat(): Promise<void> {
    const h = natsHeaders();
    h.set("Nats-TTL", `${Math.max(1, Math.ceil(this.#o.ttlMs / 1000))}s`);
    h.set(HEADER.msgId, nuid.next());
    const reply = await this.#o.nc.request(this.#subject, new TextEncoder().encode(JSON.stringify({ member: this.#o.id, at: new Date().toISOString() })), {
      headers: h,
      timeout: Math.max(1000, this.#o.heartbeatMs),
    });
    const ack = reply.json<{ error?: { description?: string } }>();
    if (ack.error !== undefined) throw new Error(ack.error.description ?? "heartbeat refused");
  }

  async #list(): Promise<string[]> {
    const filter = membersSubject(this.#o.prefix, this.#o.partitionStream);
    const info = await this.#o.jsm.streams.info(this.#o.membersStream, { subjects_filter: filter });
    const ids = Object.keys(info.state.subjects ?? {}).map((s) => s.slice(s.lastIndexOf(".") + 1));
    return [...new Set([...ids, this.#o.id])].sort();
  }

  /** Stops heartbeating and removes this member at once, so the others rebalance without waiting for its TTL. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    try {
      await this.#o.jsm.streams.purge(this.#o.membersStream, { filter: this.#subject });
    } catch {
      // The heartbeat expires by its TTL anyway.
    }
  }

  /** The connection is gone: stop the timer only. */
  halt(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}
