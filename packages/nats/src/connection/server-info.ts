import type { NatsConnection } from "@nats-io/transport-node";

/**
 * Server capabilities that differ between versions and that cozebus must
 * avoid on servers that lack them (nats-server 2.9 is the floor we test).
 */
export const FEATURE_SINCE = {
  /** `term(reason)`: older servers silently ignore the reason AND the term, and redeliver. */
  "term-reason": "2.11.0",
  /** Stream and consumer `metadata`. */
  "stream-metadata": "2.10.0",
  /** Several `filter_subjects` on one consumer. */
  "multi-filter": "2.10.0",
  /** TLS handshake before the INFO line. */
  "tls-first": "2.10.0",
  /** Consumer create refusing to silently update an existing config. */
  "consumer-create-action": "2.10.0",
} as const;

export type ServerFeature = keyof typeof FEATURE_SINCE;

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
    supports: (feature) => atLeast(version, FEATURE_SINCE[feature]),
  };
}
