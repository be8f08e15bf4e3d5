import type { NatsConnection } from "@nats-io/transport-node";

/**
 * Server capabilities that differ between versions. Each is decided by
 * `bus.server.supports(feature)` at the place that uses it, with a tested
 * fallback on servers that lack it (nats-server 2.9 is the floor we test).
 */
export const FEATURES = {
  "term-reason": {
    since: "2.11.0",
    uses: "dead letters end with term(reason), so the server's advisories say why",
    fallback: "plain term() (2.9/2.10 ignore a term with a reason and redeliver the message)",
  },
  "stream-metadata": {
    since: "2.10.0",
    uses: "streams record the builds that provisioned them (streams info, doctor)",
    fallback: "no build is recorded",
  },
  "multi-filter": {
    since: "2.10.0",
    uses: "subscribeAll of a chosen set of events runs one consumer with filter_subjects",
    fallback: "one consumer per event of the set (no order between events of different types)",
  },

  "pinned-client": {
    since: "2.11.0",
    uses: "per-key order across instances of a group (consumePartitioned): one pinned client per partition consumer, handed over on rebalance and crash",
    fallback: "none that keeps the order: consumePartitioned is refused (FEATURE_UNAVAILABLE); orderBy \"subject\" keeps per-subject order within one instance of a group",
  },
  "consumer-create-action": {
    since: "2.10.0",
    uses: "a consumer created concurrently with another config is refused, then reconciled explicitly",
    fallback: "read before create; a concurrent create with another config can silently overwrite it",
  },
  "msg-ttl": {
    since: "2.11.0",
    uses: "publish({ ttlMs }): an event expires on its own (domain streams allow per-message TTL)",
    fallback: "publish with ttlMs is refused (FEATURE_UNAVAILABLE); streams keep every event for their max age",
  },
  "kv-key-ttl": {
    since: "2.11.0",
    uses: "the KV inbox writes every entry with its own TTL: a claim lapses shortly after its lease, a done mark after the retention",
    fallback: "the inbox bucket's max age is the retention (raised, never lowered, when a longer one is asked); each value also records its own expiry",
  },
  "msg-schedules": {
    since: "2.12.0",
    uses: "publish({ deliverAt }) on streams provisioned with { schedules: true } (discard old): the server holds the event until then",
    fallback: "publish with deliverAt is refused (FEATURE_UNAVAILABLE); retries are delayed with nak(delay) on every version",
  },
  "atomic-batch": {
    since: "2.12.0",
    uses: "publishBatch(..., { atomic: true }): all events of the batch are stored, or none",
    fallback: "atomic batches are refused (FEATURE_UNAVAILABLE); publishBatch pipelines events with one result each",
  },
} as const satisfies Record<string, { readonly since: string; readonly uses: string; readonly fallback: string }>;

export type ServerFeature = keyof typeof FEATURES;

/** The version each feature needs (kept for callers of 0.1). */
export const FEATURE_SINCE = Object.fromEntries(Object.entries(FEATURES).map(([k, v]) => [k, v.since])) as { readonly [K in ServerFeature]: (typeof FEATURES)[K]["since"] };

export interface ServerInfo {
  readonly version: string;
  readonly name: string;
  readonly id: string;
  readonly jetstream: boolean;
  readonly cluster: string | undefined;
  /** Whether the server this connection is on now supports the feature. */
  supports(feature: ServerFeature): boolean;
}

function parse(v: string): [number, number, number] {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
}

export function atLeast(version: string, min: string): boolean {
  const a = parse(version);
  const b = parse(min);
  for (let i = 0; i < 3; i++) {
    if (a[i]! !== b[i]!) return a[i]! > b[i]!;
  }
  return true;
}

/** Read at call time: after a reconnect the client may be on another server (rolling upgrades). */
export function serverInfo(nc: NatsConnection): ServerInfo {
  const info = nc.info;
  const version = info?.version ?? "0.0.0";
  return {
    version,
    name: info?.server_name ?? "",
    id: info?.server_id ?? "",
    jetstream: info?.jetstream === true,
    cluster: info?.cluster,
    supports: (feature) => atLeast(version, FEATURES[feature].since),
  };
}
