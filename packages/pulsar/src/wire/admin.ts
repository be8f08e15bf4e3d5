import { ConnectError } from "@cozebus/core/transport";
import { reasonOf, statusError, type RestClient } from "./rest.js";

/** A peeked message of the admin REST API (`.../subscription/<sub>/position/<n>`). */
export interface PeekedMessage {
  /** `ledger:entry`, as the REST API says it. */
  readonly id: string;
  readonly data: Uint8Array;
  /** Property names lower-cased (they travel as HTTP headers). */
  readonly properties: Record<string, string>;
  readonly key: string | undefined;
  readonly publishTime: string | undefined;
}

const enc = encodeURIComponent;

/** MessageId.earliest as the admin API's ResetCursorData. */
const EARLIEST = { ledgerId: -1, entryId: -1, partitionIndex: -1, batchIndex: -1 };

/** Pulsar's retention policy: how long and how much of what every subscription has acked is kept (-1: no limit). */
export interface RetentionPolicy {
  readonly retentionTimeInMinutes: number;
  readonly retentionSizeInMB: number;
}

/** One subscription of a topic, as the broker's topic stats report it. */
export interface SubscriptionStats {
  /** Shared, Key_Shared, Failover, Exclusive; `None` while no consumer is connected. */
  readonly type: string;
  /** Messages not acked yet: not dispatched, and dispatched but unacked. */
  readonly msgBacklog: number;
  /** Dispatched to a consumer and not acked yet. */
  readonly unackedMessages: number;
  /** Redeliveries per second now (the broker keeps no count). */
  readonly msgRateRedeliver: number;
  readonly consumers: number;
  /** Messages the connected consumers are ready to take (their flow permits), summed. */
  readonly availablePermits: number;
  readonly durable: boolean;
}

/** What the console shows of a topic: the broker's topic stats, cut to fields every Pulsar 2.10+ reports. */
export interface TopicStats {
  /** Published since the broker loaded the topic (not what it stores). */
  readonly msgInCounter: number;
  readonly bytesInCounter: number;
  /** Bytes kept in BookKeeper for this topic. */
  readonly storageSize: number;
  readonly backlogSize: number;
  readonly publishers: number;
  readonly subscriptions: Readonly<Record<string, SubscriptionStats>>;
}

interface RawSubscriptionStats {
  type?: string;
  msgBacklog?: number;
  unackedMessages?: number;
  msgRateRedeliver?: number;
  consumers?: Array<{ availablePermits?: number }>;
  isDurable?: boolean;
}

/** The admin REST calls the transport makes (provisioning, topic discovery, dead letters). */
export class Admin {
  constructor(readonly rest: RestClient) {}

  #topicPath(topic: string): string {
    const m = /^persistent:\/\/([^/]+)\/([^/]+)\/(.+)$/.exec(topic);
    if (!m) throw new Error(`not a persistent topic: ${topic}`);
    return `/admin/v2/persistent/${enc(m[1]!)}/${enc(m[2]!)}/${enc(m[3]!)}`;
  }

  /** GET /admin/v2/clusters: answers for any accepted token, so it checks reachability and the credentials at once. */
  async clusters(): Promise<string[]> {
    const res = await this.rest.expect("GET", "/admin/v2/clusters", [200], "the admin API (GET /admin/v2/clusters)");
    return res.json<string[]>();
  }

  /** Non-partitioned persistent topics of a namespace (full names). */
  async topics(tenant: string, ns: string): Promise<string[]> {
    const res = await this.rest.expect("GET", `/admin/v2/persistent/${enc(tenant)}/${enc(ns)}`, [200], `the topics of namespace ${tenant}/${ns}`);
    return res.json<string[]>();
  }

  async namespaceExists(tenant: string, ns: string): Promise<boolean> {
    const res = await this.rest.call("GET", `/admin/v2/namespaces/${enc(tenant)}/${enc(ns)}`);
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw statusError(res.status, reasonOf(res), `namespace ${tenant}/${ns}`);
  }

  async tenantExists(tenant: string): Promise<boolean> {
    const res = await this.rest.call("GET", `/admin/v2/tenants/${enc(tenant)}`);
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw statusError(res.status, reasonOf(res), `tenant ${tenant}`);
  }

  async createTenant(tenant: string): Promise<void> {
    const clusters = await this.clusters();
    await this.rest.expect("PUT", `/admin/v2/tenants/${enc(tenant)}`, [204, 409], `creating tenant ${tenant}`, { adminRoles: [], allowedClusters: clusters });
  }

  /** True when created, false when it existed. */
  async createNamespace(tenant: string, ns: string): Promise<boolean> {
    const res = await this.rest.expect("PUT", `/admin/v2/namespaces/${enc(tenant)}/${enc(ns)}`, [204, 409], `creating namespace ${tenant}/${ns}`);
    return res.status === 204;
  }

  /** Creates a non-partitioned topic; true when created, false when it (or a partitioned topic of that name) existed. */
  async createTopic(topic: string): Promise<boolean> {
    const res = await this.rest.expect("PUT", this.#topicPath(topic), [204, 409], `topic ${topic}`);
    return res.status === 204;
  }

  /** Partitions of a partitioned topic of this name (0 when not partitioned). */
  async partitions(topic: string): Promise<number> {
    const res = await this.rest.expect("GET", `${this.#topicPath(topic)}/partitions`, [200, 404], `topic ${topic}`);
    return res.status === 200 ? (res.json<{ partitions?: number }>().partitions ?? 0) : 0;
  }

  /** The namespace's retention policy (undefined when none is set: the broker's default applies). */
  async retention(tenant: string, ns: string): Promise<RetentionPolicy | undefined> {
    const res = await this.rest.expect("GET", `/admin/v2/namespaces/${enc(tenant)}/${enc(ns)}/retention`, [200, 204], `the retention of namespace ${tenant}/${ns}`);
    if (res.status === 204 || res.body.length === 0) return undefined;
    const r = res.json<Partial<RetentionPolicy> | null>();
    if (r === null || typeof r.retentionTimeInMinutes !== "number" || typeof r.retentionSizeInMB !== "number") return undefined;
    return { retentionTimeInMinutes: r.retentionTimeInMinutes, retentionSizeInMB: r.retentionSizeInMB };
  }

  async setRetention(tenant: string, ns: string, policy: RetentionPolicy): Promise<void> {
    await this.rest.expect("POST", `/admin/v2/namespaces/${enc(tenant)}/${enc(ns)}/retention`, [204], `setting the retention of namespace ${tenant}/${ns}`, policy);
  }

  /**
   * Creates a durable subscription, at the earliest retained message (the
   * default) or the latest; true when created, false when it existed.
   */
  async createSubscription(topic: string, subscription: string, at: "earliest" | "latest" = "earliest"): Promise<boolean> {
    // Where it starts is the body (ResetCursorData), not a query parameter: without one the broker starts it at the latest
    // message. (-1, -1) is MessageId.earliest, as `pulsar-admin topics create-subscription -m earliest` sends it.
    const res = await this.rest.expect("PUT", `${this.#topicPath(topic)}/subscription/${enc(subscription)}`, [204, 409], `a subscription on topic ${topic}`, at === "earliest" ? EARLIEST : undefined);
    return res.status === 204;
  }

  /** Whether the topic holds (or held) any message: false for a topic never published to; undefined when it does not exist. */
  async hasMessages(topic: string): Promise<boolean | undefined> {
    const res = await this.rest.call("GET", `${this.#topicPath(topic)}/lastMessageId`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw statusError(res.status, reasonOf(res), `the last message id of topic ${topic}`);
    const id = res.json<{ ledgerId?: number; entryId?: number }>();
    return typeof id.entryId === "number" && id.entryId >= 0;
  }

  /** The subscription's backlog (unacked messages), or undefined when the topic or subscription does not exist. */
  async backlog(topic: string, subscription: string): Promise<number | undefined> {
    return (await this.topicStats(topic))?.subscriptions[subscription]?.msgBacklog;
  }

  /** A subscription's counters from the topic's stats, or undefined when the topic or subscription does not exist. */
  async subscriptionStats(topic: string, subscription: string): Promise<{ msgBacklog: number; unackedMessages: number } | undefined> {
    const s = (await this.topicStats(topic))?.subscriptions[subscription];
    return s === undefined ? undefined : { msgBacklog: s.msgBacklog, unackedMessages: s.unackedMessages };
  }

  /** The topic's stats (GET .../stats), or undefined when the topic does not exist. */
  async topicStats(topic: string): Promise<TopicStats | undefined> {
    const res = await this.rest.call("GET", `${this.#topicPath(topic)}/stats`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw statusError(res.status, reasonOf(res), `the stats of topic ${topic}`);
    const raw = res.json<{ msgInCounter?: number; bytesInCounter?: number; storageSize?: number; backlogSize?: number; publishers?: unknown[]; subscriptions?: Record<string, RawSubscriptionStats> }>();
    const subscriptions: Record<string, SubscriptionStats> = {};
    for (const [name, s] of Object.entries(raw.subscriptions ?? {})) {
      subscriptions[name] = {
        type: s.type ?? "None",
        msgBacklog: s.msgBacklog ?? 0,
        unackedMessages: s.unackedMessages ?? 0,
        msgRateRedeliver: s.msgRateRedeliver ?? 0,
        consumers: s.consumers?.length ?? 0,
        availablePermits: (s.consumers ?? []).reduce((n, c) => n + (c.availablePermits ?? 0), 0),
        durable: s.isDurable ?? true,
      };
    }
    return {
      msgInCounter: raw.msgInCounter ?? 0,
      bytesInCounter: raw.bytesInCounter ?? 0,
      storageSize: raw.storageSize ?? 0,
      backlogSize: raw.backlogSize ?? 0,
      publishers: raw.publishers?.length ?? 0,
      subscriptions,
    };
  }

  /** The namespace's message TTL in seconds (undefined when none is set). */
  async messageTtl(tenant: string, ns: string): Promise<number | undefined> {
    const res = await this.rest.expect("GET", `/admin/v2/namespaces/${enc(tenant)}/${enc(ns)}/messageTTL`, [200, 204], `the message TTL of namespace ${tenant}/${ns}`);
    if (res.status === 204 || res.body.length === 0) return undefined;
    const v = res.json<number | null>();
    return typeof v === "number" ? v : undefined;
  }

  /** Removes a subscription (force: even with consumers connected); false when it was not there. */
  async deleteSubscription(topic: string, subscription: string): Promise<boolean> {
    const res = await this.rest.expect("DELETE", `${this.#topicPath(topic)}/subscription/${enc(subscription)}?force=true`, [204, 404], `removing subscription ${subscription} from topic ${topic}`);
    return res.status === 204;
  }

  /** The n-th (1-based) unacked message of a subscription, or undefined past the end. */
  async peek(topic: string, subscription: string, n: number): Promise<PeekedMessage | undefined> {
    const res = await this.rest.call("GET", `${this.#topicPath(topic)}/subscription/${enc(subscription)}/position/${n}`);
    if (res.status === 404) {
      const reason = reasonOf(res);
      if (/not found|does not have|no message/i.test(reason)) return undefined;
      throw new ConnectError(`peeking ${topic} (subscription ${subscription}): ${reason}`);
    }
    if (res.status !== 200) throw statusError(res.status, reasonOf(res), `peeking topic ${topic}`);
    const h = res.headers;
    const one = (name: string): string | undefined => {
      const v = h[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const properties: Record<string, string> = {};
    for (const [name, v] of Object.entries(h)) {
      if (name.startsWith("x-pulsar-property-") && v !== undefined) properties[name.slice("x-pulsar-property-".length)] = Array.isArray(v) ? v.join(",") : v;
    }
    return {
      id: one("x-pulsar-message-id") ?? `#${n}`,
      data: new Uint8Array(res.body),
      properties,
      key: one("x-pulsar-partition-key"),
      publishTime: one("x-pulsar-publish-time"),
    };
  }
}
