import { createHash } from "node:crypto";
import type { SubjectTransformConfig } from "@nats-io/jetstream";
import { streamNamePrefix } from "../streams.js";

/**
 * Pure naming and planning for partitioned consumer groups: no I/O here, so
 * every instance of a group computes exactly the same names, transforms and
 * assignment from the same inputs.
 */

/** The priority group every partition consumer declares (server limit: 16 chars of [A-Za-z0-9/_=-]). */
export const PIN_GROUP = "cozebus";

/** Metadata keys on the partition stream: what it was made for, so a mismatch is refused, not silently reused. */
export const META = {
  partitions: "cozebus.partitions",
  group: "cozebus.group",
  source: "cozebus.source",
} as const;

/** `COZE_WORKFLOW` + group `billing` -> `COZE_WORKFLOW_P_billing`: one partition stream per (domain stream, group). */
export function partitionStreamName(stream: string, durable: string): string {
  return `${stream}_P_${durable}`;
}

/** The durable consumer of one partition: `billing-p3`. */
export function partitionConsumerName(durable: string, partition: number): string {
  return `${durable}-p${partition}`;
}

/** Every instance heartbeats here: `<PREFIX>_MEMBERS` over `<prefix>.members.>`, one subject per (partition stream, member). */
export function membersStreamName(prefix: string): string {
  return `${streamNamePrefix(prefix)}_MEMBERS`;
}

export function membersSubject(prefix: string, partitionStream: string, member?: string): string {
  return `${prefix}.members.${partitionStream}.${member ?? "*"}`;
}

/** Where partition `i` stores its events: `<i>.<original subject>`; a consumer filters `<i>.>`. */
export function partitionFilter(partition: number): string {
  return `${partition}.>`;
}

/** The subject the event was published on, from its subject in the partition stream. */
export function originalSubject(stored: string): string {
  return stored.slice(stored.indexOf(".") + 1);
}

/** The partition an event was stored in, from its subject in the partition stream (NaN when not one). */
export function partitionOf(stored: string): number {
  return Number(stored.slice(0, stored.indexOf(".")));
}

/** FNV-1a 32-bit, what nats-server's partition() hashes with; used for literal subjects that have no token to hash. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Source transforms that store every event of `patterns` in one of `n`
 * partitions, keyed by the subject's wildcard tokens — for the typed layer,
 * its template fields (`coze.workflow.*.started` hashes the workflow id),
 * so every event of one entity, and so of one subject, lands in one
 * partition in stream order. `partition(n)` without token indexes would hash
 * the whole subject, but nats-server 2.11 does not accept that form, and
 * hashing `>` tails is impossible: a pattern that is only a `>` tail gets
 * one wildcard token in its place (`a.>` -> `a.*` and `a.*.>`). A literal
 * subject has nothing to hash: its partition is fixed, computed here.
 */
export function partitionTransforms(patterns: readonly string[], n: number): SubjectTransformConfig[] {
  const expanded: string[] = [];
  for (const p of patterns) {
    const tokens = p.split(".");
    if (tokens.at(-1) === ">" && !tokens.includes("*")) {
      const head = tokens.slice(0, -1).join(".");
      expanded.push(head === "" ? "*" : `${head}.*`, head === "" ? "*.>" : `${head}.*.>`);
    } else {
      expanded.push(p);
    }
  }
  return [...new Set(expanded)].map((src) => {
    const tokens = src.split(".");
    const wildcards = tokens.filter((t) => t === "*").length;
    if (wildcards === 0 && !tokens.includes(">")) return { src, dest: `${fnv1a32(src) % n}.${src}` };
    let w = 0;
    const mapped = tokens.map((t) => (t === "*" ? `{{wildcard(${++w})}}` : t));
    const indexes = Array.from({ length: wildcards }, (_, i) => i + 1).join(",");
    return { src, dest: `{{partition(${n},${indexes})}}.${mapped.join(".")}` };
  });
}

/** Rendezvous score of (member, partition): a stable pseudo-random preference. */
function score(member: string, partition: number): number {
  return createHash("sha256").update(`${member}/${partition}`).digest().readUInt32BE(0);
}

/**
 * Which member serves which partition: rendezvous (highest random weight)
 * hashing with bounded load. Every member computes it from the same sorted
 * member list and gets the same answer; each member gets at most
 * ceil(n / members) partitions (parallelism is spread evenly), and a member
 * joining or leaving moves few partitions (each handover pauses a partition
 * briefly). Returns the owner per partition index.
 */
export function assignPartitions(members: readonly string[], n: number): string[] {
  const sorted = [...new Set(members)].sort();
  if (sorted.length === 0) return [];
  const cap = Math.ceil(n / sorted.length);
  const load = new Map(sorted.map((m) => [m, 0]));
  const owners: string[] = [];
  for (let p = 0; p < n; p++) {
    const ranked = sorted.map((m) => ({ m, s: score(m, p) })).sort((a, b) => b.s - a.s || (a.m < b.m ? -1 : 1));
    const pick = ranked.find((r) => (load.get(r.m) ?? 0) < cap)!.m;
    load.set(pick, (load.get(pick) ?? 0) + 1);
    owners.push(pick);
  }
  return owners;
}
