import { ClosedConnectionError, DrainingConnectionError, NoRespondersError as NatsNoResponders, nuid, type Subscription } from "@nats-io/transport-node";
import type { Routing } from "../../connection/routing.js";
import { FEATURES } from "../../connection/server-info.js";
import { RecentIds, outcomeOfFailure, type Outcome } from "@cozebus/core/transport";
import { ConfigError, FeatureUnavailableError, HandlerError, describe, failureKind } from "../../errors.js";
import { Inbound } from "../../messaging/inbound.js";
import { KeyedDispatcher } from "../../messaging/keyed-dispatcher.js";
import { durableName, type ConsumerHost, type DeliveredMessage, type DeliveryHandler, type DeliveryInfo } from "../consumer.js";
import { maxDeliveriesSubject, writeDeadLetter, type DeadLetterReason, type MaxDeliveriesAdvisory } from "../dead-letters.js";
import { flushAcks, type JsDelivery } from "../js-message.js";
import { backoffDelay, retryPolicy, type RetryPolicy, type RetryPolicyInput } from "../retry-policy.js";
import { Membership } from "./membership.js";
import { PinnedPull } from "./pinned-pull.js";
import { assignPartitions, originalSubject, PIN_GROUP } from "./plan.js";
import { PINNED_FALLBACK, provisionPartitions, type PartitionLayout } from "./provision.js";

const NAME = /^[A-Za-z0-9_-]+$/;
const ACK = new TextEncoder().encode("+ACK");

/** Which events a partitioned group reads: a domain stream, optionally narrowed by subject patterns. */
export interface PartitionedSpec {
  /** The domain stream events are published to, e.g. `COZE_WORKFLOW`. */
  readonly stream: string;
  /** The group: every instance with the same group (and filter) shares the partitions. */
  readonly group: string;
  /** Subject pattern(s) within the stream (default: all its subjects). */
  readonly filter?: string | readonly string[];
  readonly description?: string;
}

export interface PartitionedOptions {
  /**
   * Partitions of the group (default 8, at most 1024): the most instances
   * that work at once. Fixed once the group exists on the server; a
   * different number is refused.
   */
  readonly partitions?: number;
  /** Handlers running at once in this instance, each on a different subject (default 16). */
  readonly concurrency?: number;
  /**
   * Unacked events per partition the server hands out (default 32). 1 is
   * strictly one event at a time per partition; more lets different
   * subjects of one partition run concurrently, still one at a time per
   * subject, each ack confirmed by the server before the next event of its
   * subject starts.
   */
  readonly maxAckPending?: number;
  /** Retries happen in place (an event is never overtaken by a later one of its subject). ackWaitMs defaults to 10 s here: it bounds failover after a crash. */
  readonly retry?: RetryPolicyInput;
  /** How often this instance heartbeats its membership and re-reads the others' (default 1000 ms). */
  readonly memberHeartbeatMs?: number;
  /** A member that has not heartbeated for this long is gone (default 5000 ms, at least 1000 and twice the heartbeat). */
  readonly memberTtlMs?: number;
  /** The server unpins a partition's client that asked nothing for this long (default 5000 ms, at least 1500). */
  readonly pinnedTtlMs?: number;
  /** Longest life of one pull request (default 2000 ms; kept under a third of the pinned TTL, which each request renews). */
  readonly pullExpiresMs?: number;
  /** Remember the last N handled events per instance and ack a redelivery without running the handler (default 10,000; 0: off). */
  readonly dedupeWindow?: number;
  /** Longest wait for in-flight handlers on stop() (default 30 s); events not finished by then are handed back. */
  readonly stopTimeoutMs?: number;
  /** This instance's member id (default: random). Must be unique in the group: letters, digits, "_" and "-". */
  readonly memberId?: string;
  readonly onError?: (error: Error) => void;
  readonly onStatus?: (status: PartitionedStatus) => void;
  /** Called for each in-progress heartbeat (+WPI) sent, with the event's subject (for metrics; must be cheap and not throw). */
  readonly onHeartbeat?: (subject: string) => void;
  /** Called once a handler run's outcome was carried out: ack or term confirmed by the server, or an in-place retry about to wait (see ConsumeOptions.onSettled). */
  readonly onSettled?: (d: JsDelivery) => void;
}

export type PartitionedStatus =
  /** The live members changed; `owned` is what this instance serves now. */
  | { readonly type: "members"; readonly members: readonly string[]; readonly owned: readonly number[] }
  /** This instance started serving a partition; `waitedMs` is how long it held events until every event the previous holder had was settled. */
  | { readonly type: "acquired"; readonly partition: number; readonly waitedMs: number }
  /** Held back: `foreign` events of the partition are still unsettled with a previous holder (or on their way back as redeliveries). */
  | { readonly type: "fenced"; readonly partition: number; readonly foreign: number }
  | { readonly type: "released"; readonly partition: number }
  /** The server moved the pin away (unpinned by another instance, an admin, or after the pinned TTL). */
  | { readonly type: "pin_lost"; readonly partition: number }
  | { readonly type: "pull_problem"; readonly partition: number; readonly detail: string };

export interface PartitionedDiagnostics {
  readonly member: string;
  readonly members: readonly string[];
  readonly parts: ReadonlyArray<{
    readonly index: number;
    /** The owner in this instance's last view. */
    readonly owner: string | undefined;
    readonly owned: boolean;
    readonly pinId?: string;
    readonly fenced: boolean;
    readonly fenceLoop: boolean;
    readonly fencedForMs: number;
    readonly held: number;
    /** Stream sequences delivered here and not yet acked, nacked or termed. */
    readonly outstanding: readonly number[];
    readonly pull?: PinnedPull["state"];
  }>;
}

export interface PartitionedStats {
  readonly member: string;
  readonly owned: readonly number[];
  readonly acked: number;
  readonly skippedDuplicates: number;
  readonly retried: number;
  readonly deadLettered: number;
  readonly inFlight: number;
  /** In-progress heartbeats (+WPI) sent for events held here while they ran or waited their turn. */
  readonly heartbeats: number;
}

/** What a partitioned consumer needs from the JetStream layer that starts it. */
export interface PartitionedHost extends ConsumerHost {
  readonly prefix: string;
  readonly streamReplicas: number;
  /** Where pulls and replies go: the JetStream API prefix (default, domain or import) and the inbox prefix. */
  readonly routing: Pick<Routing, "apiPrefix" | "inboxPrefix">;
  /** The configured JetStream domain: max-deliveries advisories from another domain's same-named stream are not ours. */
  readonly domain?: string | undefined;
}

/** A delivery as handlers see it: the subject it was published on, not its place in the partition stream. */
class PartitionDelivered extends Inbound implements DeliveredMessage {
  readonly #subject: string;
  constructor(
    d: JsDelivery,
    subject: string,
    readonly delivery: DeliveryInfo,
  ) {
    super(d.msg);
    this.#subject = subject;
  }

  override get subject(): string {
    return this.#subject;
  }

  override get reply(): string | undefined {
    return undefined;
  }
}

/** One partition as this instance sees it. */
class Partition {
  owned = false;
  pull: PinnedPull | undefined;
  /** The pin of the current tenure, as the messages show it. */
  pinId: string | undefined;
  /** Holding every delivery until no event of the partition is unsettled elsewhere. */
  fenced = false;
  fencedAt = 0;
  fenceLoop: Promise<void> | undefined;
  held: JsDelivery[] = [];
  /**
   * Stream sequences delivered here for which no ack, nak or term has been
   * sent yet, with how many copies of each. Counted down when the ack is
   * sent, not when it is confirmed: the server may then still count an event
   * we no longer do (the fence waits a little longer), never the reverse.
   */
  readonly outstanding = new Map<number, number>();
  /** The deliveries counted in `outstanding`. */
  readonly counted = new Set<JsDelivery>();

  constructor(
    readonly index: number,
    readonly consumer: string,
  ) {}
}

interface Item {
  readonly d: JsDelivery;
  readonly part: Partition;
  readonly subject: string;
  /** The connection this delivery came on (see #epoch). */
  readonly epoch: number;
}

/**
 * Per-key order across several instances of one group, with failover
 * (nats-server 2.11+). The group's events are copied into a partition
 * stream whose source transforms put each event in one of N partitions by
 * its subject's wildcard tokens; each partition has one durable consumer
 * with a pinned-client priority group, so the server serves exactly one
 * instance per partition. Instances heartbeat into a members stream and
 * each computes the same assignment (rendezvous hashing, bounded load), so
 * the partitions are spread over the live instances.
 *
 * Order is kept across handovers by a fence: a new tenure (a new pin id on
 * the messages) holds every delivery until the server's count of unacked
 * events of the partition equals what this instance holds of what the server
 * had delivered at that same moment (by delivery sequence) — everything the
 * previous holder had is acked, or came back here as a redelivery — and then
 * runs them in stream order. Within a tenure, events of one subject run one
 * at a time, each ack confirmed by the server before the next starts, so a
 * crash can only ever redeliver the head event of a subject.
 */
export class PartitionedConsumer {
  readonly #host: PartitionedHost;
  readonly #spec: PartitionedSpec;
  readonly #handler: DeliveryHandler;
  readonly #opts: PartitionedOptions;
  readonly #policy: RetryPolicy;
  readonly #n: number;
  readonly #maxAckPending: number;
  readonly #member: string;
  readonly #heartbeatMs: number;
  readonly #memberTtlMs: number;
  readonly #pinnedTtlMs: number;
  readonly #expiresMs: number;
  readonly #dispatcher: KeyedDispatcher<Item>;
  readonly #live = new Set<JsDelivery>();
  readonly #handled: RecentIds<number>;
  readonly #releasing = new Set<Promise<void>>();
  #layout: PartitionLayout | undefined;
  #parts: Partition[] = [];
  #membership: Membership | undefined;
  #owners: readonly string[] | undefined;
  #members: readonly string[] = [];
  #reconciling: Promise<void> = Promise.resolve();
  #heartbeat: NodeJS.Timeout | undefined;
  #advisories: Subscription | undefined;
  #offReconnect: (() => void) | undefined;
  #stopping = false;
  #halted = false;
  #givenUp = false;
  #stopped: Promise<void> | undefined;
  /**
   * Counts reconnects. A delivery that came on an earlier connection and has
   * not started yet is handed back instead of run: after a server restart the
   * server may have lost its record of delivering it (consumer state is
   * written behind), deliver it anew to whoever holds the partition now, and
   * that instance may already be past it when this stale copy would run.
   */
  #epoch = 0;
  #stats = { acked: 0, skippedDuplicates: 0, retried: 0, deadLettered: 0, heartbeats: 0 };

  private constructor(host: PartitionedHost, spec: PartitionedSpec, handler: DeliveryHandler, opts: PartitionedOptions) {
    if (!NAME.test(spec.group)) throw new ConfigError("group", `${JSON.stringify(spec.group)} is not a valid consumer name: letters, digits, "_" and "-"`);
    const int = (name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
      if (!Number.isInteger(v) || v < min || v > max) throw new ConfigError(name, `expected an integer from ${min} to ${max}, got ${v}`);
      return v;
    };
    this.#n = int("partitions", opts.partitions ?? 8, 1, 1024);
    this.#maxAckPending = int("maxAckPending", opts.maxAckPending ?? 32, 1);
    this.#heartbeatMs = int("memberHeartbeatMs", opts.memberHeartbeatMs ?? 1000, 50);
    this.#memberTtlMs = int("memberTtlMs", opts.memberTtlMs ?? 5000, Math.max(1000, 2 * this.#heartbeatMs));
    this.#pinnedTtlMs = int("pinnedTtlMs", opts.pinnedTtlMs ?? 5000, 1500);
    // Each request renews the pin: a request must end (and the next go out) well inside the TTL.
    this.#expiresMs = Math.max(500, Math.min(int("pullExpiresMs", opts.pullExpiresMs ?? 2000, 500), Math.floor(this.#pinnedTtlMs / 3)));
    this.#member = opts.memberId ?? nuid.next();
    if (!NAME.test(this.#member)) throw new ConfigError("memberId", `${JSON.stringify(this.#member)}: letters, digits, "_" and "-"`);
    this.#host = host;
    this.#spec = spec;
    this.#handler = handler;
    this.#opts = opts;
    this.#policy = retryPolicy({ ackWaitMs: 10_000, ...opts.retry });
    this.#handled = new RecentIds<number>(opts.dedupeWindow ?? 10_000);
    this.#dispatcher = new KeyedDispatcher<Item>(int("concurrency", opts.concurrency ?? 16, 1), (it) => it.subject, (it) => this.#run(it));
  }

  /**
   * Provisions what the group needs (additively), joins it, and resolves
   * once this instance serves its first share of the partitions. Refuses
   * with FeatureUnavailableError ("pinned-client") on servers before 2.11.
   */
  static async start(host: PartitionedHost, spec: PartitionedSpec, handler: DeliveryHandler, opts: PartitionedOptions = {}): Promise<PartitionedConsumer> {
    const c = new PartitionedConsumer(host, spec, handler, opts);
    await c.#start();
    return c;
  }

  get stats(): PartitionedStats {
    return {
      ...this.#stats,
      member: this.#member,
      owned: this.#parts.filter((p) => p.owned).map((p) => p.index),
      inFlight: this.#parts.reduce((n, p) => n + p.outstanding.size, 0),
    };
  }

  /**
   * What this instance believes about each partition, for diagnostics: the
   * assignment in its last view, its tenure (pin), fence and pull. Not a
   * stable format; a failing test or an operator prints it.
   */
  get diagnostics(): PartitionedDiagnostics {
    const now = performance.now();
    return {
      member: this.#member,
      members: this.#members,
      parts: this.#parts.map((p) => ({
        index: p.index,
        owner: this.#owners?.[p.index],
        owned: p.owned,
        ...(p.pinId !== undefined ? { pinId: p.pinId } : {}),
        fenced: p.fenced,
        fenceLoop: p.fenceLoop !== undefined,
        fencedForMs: p.fenced ? Math.round(now - p.fencedAt) : 0,
        held: p.held.length,
        outstanding: [...p.outstanding.keys()].sort((a, b) => a - b),
        ...(p.pull !== undefined ? { pull: p.pull.state } : {}),
      })),
    };
  }

  /** The member id of this instance in its group. */
  get member(): string {
    return this.#member;
  }

  /** Where the group lives on the server: the partition stream and its consumers. */
  get layout(): PartitionLayout | undefined {
    return this.#layout;
  }

  async #start(): Promise<void> {
    const host = this.#host;
    const actual = host.nc.info?.version ?? "unknown";
    if (!host.supports("pinned-client")) {
      throw new FeatureUnavailableError("pinned-client", `per-key order across instances of a group (consumePartitioned) needs nats-server ${FEATURES["pinned-client"].since} or later; this server is ${actual}. ${PINNED_FALLBACK}`);
    }
    const filters = this.#spec.filter === undefined ? [] : typeof this.#spec.filter === "string" ? [this.#spec.filter] : [...this.#spec.filter];
    const durable = durableName({ group: this.#spec.group, ...(filters.length > 0 ? { filter: filters } : {}) });
    const layout = await provisionPartitions(
      {
        jsm: host.jsm,
        prefix: host.prefix,
        replicas: host.streamReplicas,
        source: this.#spec.stream,
        group: this.#spec.group,
        durable,
        filters,
        partitions: this.#n,
        description: this.#spec.description ?? `cozebus partitioned group ${this.#spec.group} of ${this.#spec.stream}`,
        consumer: { ackWaitMs: this.#policy.ackWaitMs, maxDeliver: this.#policy.maxDeliveries, maxAckPending: this.#maxAckPending, pinnedTtlMs: this.#pinnedTtlMs },
      },
      actual,
    );
    this.#layout = layout;
    this.#parts = layout.consumers.map((name, i) => new Partition(i, name));
    this.#advisories = this.#watchAbandoned(layout);
    // Keeps every event held or queued here alive on the server while it waits its turn.
    this.#heartbeat = setInterval(() => {
      for (const d of this.#live) {
        if (!d.working()) continue;
        this.#stats.heartbeats++;
        this.#opts.onHeartbeat?.(d.subject);
      }
    }, Math.max(50, Math.floor(this.#policy.ackWaitMs / 3)));
    this.#heartbeat.unref();
    this.#membership = new Membership({
      nc: host.nc,
      jsm: host.jsm,
      prefix: host.prefix,
      membersStream: layout.membersStream,
      partitionStream: layout.stream,
      id: this.#member,
      heartbeatMs: this.#heartbeatMs,
      ttlMs: this.#memberTtlMs,
      onView: (members) => this.#onView(members),
      report: (e) => this.#report(e),
    });
    await this.#membership.start();
    this.#offReconnect = host.onReconnected(() => {
      this.#epoch++;
      for (const p of this.#parts) {
        this.#handBack(p);
        p.pull?.reset();
      }
    });
    await host.nc.flush();
  }

  /** Membership polls run one at a time; a reconcile never overlaps another. */
  #onView(members: readonly string[]): Promise<void> {
    this.#reconciling = this.#reconciling.then(() => this.#reconcile(members)).catch((e: unknown) => this.#report(e as Error));
    return this.#reconciling;
  }

  async #reconcile(members: readonly string[]): Promise<void> {
    if (this.#stopping) return;
    const owners = assignPartitions(members, this.#n);
    const previous = this.#owners;
    const changed = members.join(",") !== this.#members.join(",");
    this.#owners = owners;
    this.#members = members;
    const lose = this.#parts.filter((p) => p.owned && owners[p.index] !== this.#member);
    const gain = this.#parts.filter((p) => !p.owned && owners[p.index] === this.#member);
    // Release first: hand over what others should serve before taking more.
    await Promise.all(lose.map((p) => this.#release(p)));
    for (const p of gain) {
      // The previous owner (in our last view) is gone: its pin would only expire after the
      // pinned TTL, so take it now. A live previous owner hands over by unpinning itself.
      const before = previous?.[p.index];
      this.#acquire(p, before !== undefined && before !== this.#member && !members.includes(before));
    }
    if (changed || lose.length > 0 || gain.length > 0) this.#status({ type: "members", members, owned: this.stats.owned });
  }

  #acquire(part: Partition, takeOver: boolean): void {
    part.owned = true;
    const layout = this.#layout!;
    const pull: PinnedPull = new PinnedPull(this.#host.nc, {
      stream: layout.stream,
      consumer: part.consumer,
      group: PIN_GROUP,
      batch: Math.max(64, this.#maxAckPending * 2),
      expiresMs: this.#expiresMs,
      routing: this.#host.routing,
      onMessage: (d, pin) => this.#onMessage(part, pull, d, pin),
      onPinLost: () => {
        if (part.pull !== pull) return;
        part.pinId = undefined;
        this.#status({ type: "pin_lost", partition: part.index });
      },
      onStatus: (s) => this.#status({ type: "pull_problem", partition: part.index, detail: s.type === "refused" ? `${s.code} ${s.description}` : s.type === "unreadable" ? `unreadable message: ${s.detail}` : s.type }),
    });
    part.pull = pull;
    const go = (): void => {
      if (part.pull === pull) pull.start();
    };
    if (takeOver) void this.#unpin(part, undefined).then(go);
    else go();
  }

  /**
   * Stops asking for the partition and unpins it, so the next owner is
   * served at once (it holds its deliveries until ours are acked). Events
   * already here keep running, in order; events held by a fence that never
   * lifted are handed back, since the next owner must see them together with
   * what the previous holder left.
   */
  async #release(part: Partition): Promise<void> {
    part.owned = false;
    const pull = part.pull;
    part.pull = undefined;
    const ended = pull?.stop();
    if (ended !== undefined) {
      const tracked: Promise<void> = ended.finally(() => this.#releasing.delete(tracked));
      this.#releasing.add(tracked);
    }
    await this.#unpin(part, pull?.pinId ?? part.pinId);
    if (part.fenced) this.#handBack(part);
    part.pinId = undefined;
    this.#status({ type: "released", partition: part.index });
  }

  /** Unpins the partition unless another client is known to hold it (`mine` undefined: whoever holds it). */
  async #unpin(part: Partition, mine: string | undefined): Promise<void> {
    const layout = this.#layout!;
    try {
      const info = await this.#host.jsm.consumers.info(layout.stream, part.consumer);
      const groups = (info as unknown as { priority_groups?: Array<{ group: string; pinned_client_id?: string }> }).priority_groups ?? [];
      const pinned = groups.find((g) => g.group === PIN_GROUP)?.pinned_client_id;
      if (!pinned || (mine !== undefined && pinned !== mine)) return;
      await this.#host.jsm.consumers.unpin(layout.stream, part.consumer, PIN_GROUP);
    } catch (err) {
      // The pin then expires by its TTL: slower, never wrong.
      this.#report(new Error(`partition ${part.consumer}: unpin failed (${describe(err)}); the pin expires after ${this.#pinnedTtlMs} ms`));
    }
  }

  #onMessage(part: Partition, pull: PinnedPull, d: JsDelivery, pin: string | undefined): void {
    const seq = d.info.streamSequence;
    part.outstanding.set(seq, (part.outstanding.get(seq) ?? 0) + 1);
    part.counted.add(d);
    this.#live.add(d);
    if (this.#givenUp) {
      d.nak();
      this.#settle(part, d);
      return;
    }
    if (pull === part.pull && pin !== undefined && pin !== part.pinId) {
      // A new tenure: whatever the partition's previous holder (maybe this
      // instance before a server restart) left unsettled must come first.
      part.pinId = pin;
      if (!part.fenced || part.fenceLoop === undefined) part.fencedAt = performance.now();
      part.fenced = true;
      this.#fence(part);
    }
    if (pull !== part.pull && pin !== pull.releasedPin) {
      // A pull released with no pin of its own, pinned anew before it was cancelled:
      // not ours to handle. (Should not happen: such requests are cancelled on release.)
      d.nak();
      this.#settle(part, d);
      return;
    }
    if (part.fenced) {
      // Not owned any more and the fence never lifted: the next owner must get it with the rest.
      if (!part.owned) {
        d.nak();
        this.#settle(part, d);
      } else part.held.push(d);
      return;
    }
    this.#dispatch(part, d);
  }

  #dispatch(part: Partition, d: JsDelivery): void {
    this.#dispatcher.push({ d, part, subject: originalSubject(d.subject), epoch: this.#epoch });
  }

  /** Polls until every unacked event of the partition is one this instance holds, then runs them in stream order. */
  #fence(part: Partition): void {
    if (part.fenceLoop !== undefined) return;
    const layout = this.#layout!;
    part.fenceLoop = (async () => {
      let wait = 20;
      let told = -1;
      while (part.fenced && part.owned && !this.#halted && !this.#givenUp) {
        try {
          // Our own acks first, so the count does not include what we already settled.
          flushAcks(this.#host.nc);
          await this.#host.nc.flush();
          const info = await this.#host.jsm.consumers.info(layout.stream, part.consumer);
          // The server's count is as of the moment it answered; deliveries it made after that
          // travel apart from the reply and may be here already. Counting those would let
          // them stand in for events the previous holder still has: compare like with like.
          const foreign = info.num_ack_pending - heldAsOf(part.counted, info.delivered.consumer_seq);
          if (foreign <= 0) {
            this.#lift(part);
            break;
          }
          if (foreign !== told) this.#status({ type: "fenced", partition: part.index, foreign });
          told = foreign;
        } catch (err) {
          if (this.#halted) break;
          this.#report(new Error(`partition ${part.consumer}: cannot read its state to hand it over (${describe(err)}); retrying`));
        }
        await sleep(wait);
        wait = Math.min(250, wait * 2);
      }
    })().finally(() => {
      part.fenceLoop = undefined;
    });
  }

  #lift(part: Partition): void {
    part.fenced = false;
    const held = part.held.sort((a, b) => a.info.streamSequence - b.info.streamSequence);
    part.held = [];
    for (const d of held) this.#dispatch(part, d);
    this.#status({ type: "acquired", partition: part.index, waitedMs: Math.round(performance.now() - part.fencedAt) });
  }

  /** Hands held events back to the server, in stream order, for whoever serves the partition next. */
  #handBack(part: Partition): void {
    const held = part.held.sort((a, b) => a.info.streamSequence - b.info.streamSequence);
    part.held = [];
    for (const d of held) {
      d.nak();
      this.#settle(part, d);
    }
  }

  /** An ack, nak or term for `d` is being sent: it no longer counts as held here. */
  #letGo(part: Partition, d: JsDelivery): void {
    if (!part.counted.delete(d)) return;
    const seq = d.info.streamSequence;
    const copies = (part.outstanding.get(seq) ?? 1) - 1;
    if (copies > 0) part.outstanding.set(seq, copies);
    else part.outstanding.delete(seq);
  }

  /** Done with `d`: no more heartbeats for it. */
  #settle(part: Partition, d: JsDelivery): void {
    this.#letGo(part, d);
    this.#live.delete(d);
  }

  async #run(item: Item): Promise<void> {
    const { d, part } = item;
    try {
      if (this.#givenUp || item.epoch !== this.#epoch) {
        d.nak(); // stop() timed out, or it came before a reconnect (see #epoch): the server hands it out again
        return;
      }
      const seq = d.info.streamSequence;
      // A copy of an event this instance already handled (its ack was lost to a
      // disconnect or server restart): ack it again, never run the handler twice here.
      if (this.#handled.has(seq)) {
        await this.#confirm(part, d, ACK);
        this.#stats.skippedDuplicates++;
        return;
      }
      await this.#attempts(item);
    } catch (err) {
      this.#report(err as Error);
    } finally {
      this.#settle(part, d);
    }
  }

  /** The handler's outcome: what it returned, or its throw settled by the policy (reported here). */
  async #outcome(item: Item, delivery: DeliveryInfo): Promise<Outcome | void> {
    try {
      return await this.#handler(new PartitionDelivered(item.d, item.subject, delivery));
    } catch (err) {
      this.#report(failureKind(err) === "unknown-event" ? (err as Error) : new HandlerError(item.subject, err));
      return outcomeOfFailure(err, delivery.attempt, this.#policy);
    }
  }

  /** Runs the handler, retrying in place: the next event of this subject waits meanwhile. */
  async #attempts(item: Item): Promise<void> {
    const { d } = item;
    const info = d.info;
    const origin = sourceOf(d) ?? { stream: info.stream, sequence: info.streamSequence };
    for (let attempt = info.deliveryCount; ; attempt++) {
      // A retry waiting across a reconnect is stale like a queued delivery (see #epoch).
      if (this.#givenUp || item.epoch !== this.#epoch) {
        d.nak();
        return;
      }
      const outcome = await this.#outcome(item, { attempt, stream: origin.stream, sequence: origin.sequence, consumer: info.consumer, pending: info.pending });
      if (outcome !== undefined && outcome.type === "dead-letter") {
        await this.#deadLetter(item, outcome.reason, outcome.error, attempt);
        return;
      }
      if (outcome !== undefined && outcome.type === "retry") {
        this.#stats.retried++;
        this.#opts.onSettled?.(d);
        // In place, also for an unknown event: handing it back would let the next event of its subject overtake it.
        await sleep(outcome.delayMs);
        continue;
      }
      await this.#confirm(item.part, d, ACK);
      this.#opts.onSettled?.(d);
      this.#handled.add(info.streamSequence);
      this.#stats.acked++;
      return;
    }
  }

  async #deadLetter(item: Item, reason: DeadLetterReason, err: unknown, deliveries: number): Promise<void> {
    const { d, subject } = item;
    const info = d.info;
    for (let attempt = 1; ; attempt++) {
      try {
        await writeDeadLetter(this.#host.publisher, this.#host.dlqSubject(info.stream, info.consumer), d.data, d.headers, {
          subject,
          stream: info.stream,
          sequence: info.streamSequence,
          consumer: info.consumer,
          deliveries,
          reason,
          error: describe(err),
        });
        break;
      } catch (dlqErr) {
        // Never term what is not dead-lettered; never nak it either (a later event of
        // its subject would overtake it): keep trying here while the heartbeat keeps it alive.
        this.#report(new Error(`could not dead-letter ${info.stream}#${info.streamSequence} from "${subject}": ${describe(dlqErr)}; retrying`));
        if (this.#givenUp || this.#halted) {
          d.nak();
          this.#opts.onSettled?.(d);
          return;
        }
        await sleep(backoffDelay(this.#policy.backoff, attempt));
      }
    }
    // 2.11+ (required here) understands term with a reason.
    await this.#confirm(item.part, d, new TextEncoder().encode(`+TERM cozebus: ${reason}`));
    this.#opts.onSettled?.(d);
    this.#stats.deadLettered++;
  }

  /**
   * Sends an ack (or term) and waits for the server to confirm it. Only then
   * may the next event of the subject start: an ack lost in a crash would
   * otherwise redeliver an event after a later one of its subject ran.
   * Retried while the connection recovers; the heartbeat keeps the event
   * alive meanwhile.
   */
  async #confirm(part: Partition, d: JsDelivery, body: Uint8Array): Promise<void> {
    const reply = d.msg.reply;
    if (!reply) return;
    this.#letGo(part, d);
    for (let attempt = 0; !this.#halted; attempt++) {
      try {
        await this.#host.nc.request(reply, body, { timeout: Math.max(1000, Math.floor(this.#policy.ackWaitMs / 3)) });
        return;
      } catch (err) {
        const is = (cls: abstract new (...a: never[]) => Error): boolean => err instanceof cls || (err as Error).cause instanceof cls;
        if (is(ClosedConnectionError) || is(DrainingConnectionError) || this.#host.nc.isClosed()) return; // the server redelivers it: correct
        if (is(NatsNoResponders)) {
          this.#report(new Error(`cannot ack ${d.info.stream}#${d.info.streamSequence}: its consumer ${d.info.consumer} is gone`));
          return;
        }
        await sleep(Math.min(2000, 100 * 2 ** attempt));
      }
    }
  }

  /**
   * Dead-letters events that ran out of deliveries without any handler
   * settling them (the instances holding them kept dying). Reads the stored
   * copy and gives the dead letter the subject the event was published on.
   */
  #watchAbandoned(layout: PartitionLayout): Subscription {
    const host = this.#host;
    return host.nc.subscribe(maxDeliveriesSubject(layout.stream, "*"), {
      queue: `cozebus-dlq-${layout.stream}`,
      callback: (err, msg) => {
        if (err) return;
        void (async () => {
          let adv: MaxDeliveriesAdvisory | undefined;
          try {
            adv = msg.json<MaxDeliveriesAdvisory>();
            // Advisories carry no domain in their subject: another domain's same-named stream is not ours.
            if (host.domain !== undefined && adv.domain !== undefined && adv.domain !== "" && adv.domain !== host.domain) return;
            const stored = await host.jsm.streams.getMessage(adv.stream, { seq: adv.stream_seq });
            if (stored === null) return;
            await writeDeadLetter(host.publisher, host.dlqSubject(adv.stream, adv.consumer), stored.data, stored.header, {
              subject: originalSubject(stored.subject),
              stream: adv.stream,
              sequence: adv.stream_seq,
              consumer: adv.consumer,
              deliveries: adv.deliveries,
              reason: "abandoned",
              error: `no ack after ${adv.deliveries} deliveries: every instance holding it crashed, was killed, or hung past the ack wait`,
            });
            this.#stats.deadLettered++;
          } catch (e) {
            const what = adv === undefined ? `an unreadable advisory on "${msg.subject}"` : `${adv.stream}#${adv.stream_seq} after max deliveries`;
            this.#report(new Error(`could not dead-letter ${what}: ${describe(e)}`));
          }
        })();
      },
    });
  }

  #status(s: PartitionedStatus): void {
    try {
      this.#opts.onStatus?.(s);
    } catch {
      // listener bugs stay with the listener
    }
  }

  #report(err: Error): void {
    try {
      (this.#opts.onError ?? ((e: Error) => this.#host.report(e)))(err);
    } catch {
      // see #status
    }
  }

  /** The connection is gone: stop timers and watchers now (nothing can be acked any more). */
  halt(): void {
    this.#stopping = true;
    this.#halted = true;
    this.#givenUp = true;
    clearInterval(this.#heartbeat);
    this.#membership?.halt();
    this.#offReconnect?.();
    this.#advisories?.unsubscribe();
    for (const p of this.#parts) void p.pull?.stop();
  }

  /**
   * Graceful stop: leave the group (the others rebalance at once), unpin
   * every partition served here (their next owners hold their deliveries
   * until ours are acked), let the events already here finish (bounded by
   * `stopTimeoutMs`; the rest are handed back), then stop heartbeats.
   */
  stop(timeoutMs = this.#opts.stopTimeoutMs ?? 30_000): Promise<void> {
    this.#stopped ??= (async () => {
      this.#stopping = true;
      this.#offReconnect?.();
      await this.#membership?.stop();
      await this.#reconciling;
      await Promise.all(this.#parts.filter((p) => p.owned).map((p) => this.#release(p)));
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        Promise.all([...this.#releasing]).then(() => this.#dispatcher.idle()).then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.#givenUp = true;
        this.#report(new Error(`partitioned group ${this.#spec.group}: ${this.stats.inFlight} event(s) still in progress after ${timeoutMs} ms; those not finished are handed back`));
      }
      flushAcks(this.#host.nc);
      await this.#host.nc.flush().catch(() => undefined);
      clearInterval(this.#heartbeat);
      this.#advisories?.unsubscribe();
    })();
    return this.#stopped;
  }
}

/**
 * How many distinct events of `held` the server had delivered by its
 * delivery (consumer) sequence `upTo`: the part of its ack-pending count
 * that is ours. A redelivery has a delivery sequence of its own.
 */
export function heldAsOf(held: Iterable<JsDelivery>, upTo: number): number {
  const seqs = new Set<number>();
  for (const d of held) if (d.info.consumerSequence <= upTo) seqs.add(d.info.streamSequence);
  return seqs.size;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The domain stream and sequence an event was copied from, from the
 * `Nats-Stream-Source` header sourcing adds (`<stream>[:<hash>] <seq> ...`):
 * what handlers see, so a partitioned group reports the same sequences as a
 * plain consumer of the domain stream.
 */
function sourceOf(d: JsDelivery): { stream: string; sequence: number } | undefined {
  const h = d.headers?.get("Nats-Stream-Source");
  if (!h) return undefined;
  const [name, seq] = h.split(" ");
  const sequence = Number(seq);
  if (!name || !Number.isInteger(sequence) || sequence <= 0) return undefined;
  const colon = name.indexOf(":");
  return { stream: colon >= 0 ? name.slice(0, colon) : name, sequence };
}
