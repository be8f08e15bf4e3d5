/**
 * Pure comparisons between a stream on the server and the spec a build
 * wants. Nothing here talks to the server: streams.ts reads and writes,
 * this file decides.
 *
 * The rule is additive, because during a rolling upgrade several builds of
 * one domain provision the same stream: a build adds the subjects it
 * publishes and raises limits it needs higher, but never removes a subject
 * or lowers a limit (another build may rely on it). Removal and lowering are
 * explicit: `prunePlan` lists them, with why.
 */
import type { StreamConfig } from "@nats-io/jetstream";
import type { StreamSpec } from "./streams.js";

const NS_PER_MS = 1_000_000;

/** A limit a build may raise but never lower; `unlimited` is the server's value for "no limit". */
interface LimitRule {
  readonly key: "max_age" | "max_bytes" | "max_msgs" | "max_msg_size" | "duplicate_window" | "num_replicas";
  readonly unlimited?: number;
}

const LIMITS: readonly LimitRule[] = [
  { key: "max_age", unlimited: 0 },
  { key: "max_bytes", unlimited: -1 },
  { key: "max_msgs", unlimited: -1 },
  { key: "max_msg_size", unlimited: -1 },
  { key: "duplicate_window" },
  { key: "num_replicas" },
];

/** Stream switches a build may turn on but never off (another build may publish with them). */
const SWITCHES = [
  { key: "allow_msg_ttl", on: (spec: StreamSpec) => spec.allow?.msgTtl === true },
  { key: "allow_msg_schedules", on: (spec: StreamSpec) => spec.allow?.schedules === true },
  { key: "allow_atomic", on: (spec: StreamSpec) => spec.allow?.atomic === true },
] as const;

/** Settings that cannot change in place at all. */
const FIXED = ["retention", "storage"] as const;

/** The config a spec asks for, in the server's units. */
export function toStreamConfig(spec: StreamSpec): Partial<StreamConfig> & { name: string } {
  const l = spec.limits;
  return {
    name: spec.name,
    subjects: [...spec.subjects],
    ...(spec.description !== undefined ? { description: spec.description } : {}),
    retention: "limits",
    storage: l.storage,
    discard: l.discard,
    max_age: l.maxAgeMs * NS_PER_MS,
    max_bytes: l.maxBytes,
    max_msgs: l.maxMsgs,
    max_msg_size: l.maxMsgSize,
    duplicate_window: l.duplicateWindowMs * NS_PER_MS,
    num_replicas: spec.replicas,
    // Only switches that are on: older servers refuse fields they do not know.
    ...Object.fromEntries(SWITCHES.filter((sw) => sw.on(spec)).map((sw) => [sw.key, true])),
  };
}

/** Config values are numbers, strings and booleans; anything else is shown as JSON. */
export const show = (v: unknown): string => (typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));

const rank = (rule: LimitRule, v: number): number => (rule.unlimited !== undefined && v === rule.unlimited ? Infinity : v);

/** Whether subject pattern `a` matches every subject that pattern `b` matches (NATS wildcards). */
export function covers(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < x.length; i++) {
    if (x[i] === ">") return y.length > i;
    if (i >= y.length || y[i] === ">") return false;
    if (x[i] !== "*" && (y[i] === "*" || x[i] !== y[i])) return false;
  }
  return x.length === y.length;
}

/** Whether some subject matches both patterns. */
export function overlaps(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] === ">" || y[i] === ">") return true;
    if (x[i] !== "*" && y[i] !== "*" && x[i] !== y[i]) return false;
  }
  return x.length === y.length;
}

/** How a stream on the server compares with a spec. Every entry is a sentence an operator can act on. */
export interface StreamDrift {
  /** Subjects the spec publishes on that the stream does not capture: provisioning adds them. */
  readonly missingSubjects: readonly string[];
  /** Subjects of the stream the spec does not name: kept by provisioning (another build may publish there); `prune` removes them. */
  readonly extraSubjects: readonly string[];
  /** Limits lower than the spec wants, as `field: server -> wanted`: provisioning raises them. */
  readonly raise: readonly string[];
  /**
   * Differences provisioning keeps as they are, each with why: limits another
   * build (or an operator) set higher, a discard policy that differs.
   */
  readonly conflicts: readonly string[];
  /** Stream subjects that capture request/reply subjects (the stream would answer those requests): kept, reported; `prune` removes them. */
  readonly capturesRequests: readonly string[];
  /** Settings that differ and cannot change in place (retention, storage). */
  readonly fixed: readonly string[];
}

/** Compares a stream's config on the server with the spec; pure, sends nothing. */
export function compareStream(config: StreamConfig, spec: StreamSpec): StreamDrift {
  const have = config as unknown as Record<string, unknown>;
  const want = toStreamConfig(spec) as unknown as Record<string, unknown>;
  const fixed = FIXED.filter((k) => have[k] !== want[k]).map((k) => `${k} is ${show(have[k])} on the server but ${show(want[k])} is wanted`);
  const serverSubjects = config.subjects ?? [];
  const missingSubjects = spec.subjects.filter((s) => !serverSubjects.some((h) => covers(h, s)));
  const extraSubjects = serverSubjects.filter((h) => !spec.subjects.includes(h));
  const raise: string[] = [];
  const conflicts: string[] = [];
  for (const rule of LIMITS) {
    const h = have[rule.key] as number;
    const w = want[rule.key] as number;
    if (h === w) continue;
    if (rank(rule, w) > rank(rule, h)) raise.push(`${rule.key}: ${show(h)} -> ${show(w)}`);
    else conflicts.push(`${rule.key} is ${show(h)} on the server, this build wants ${show(w)}: kept (provisioning never lowers a limit; cozebus streams prune does)`);
  }
  for (const sw of SWITCHES) if (sw.on(spec) && have[sw.key] !== true) raise.push(`${sw.key}: ${show(have[sw.key] ?? false)} -> true`);
  if (have["discard"] !== want["discard"]) {
    conflicts.push(`discard is ${show(have["discard"])} on the server, this build wants ${show(want["discard"])}: kept (provisioning never changes the discard policy; cozebus streams prune does)`);
  }
  const capturesRequests: string[] = [];
  for (const h of serverSubjects) {
    const captured = (spec.excludes ?? []).filter((x) => overlaps(h, x));
    if (captured.length > 0) {
      capturesRequests.push(`subject ${h} also captures request/reply subjects (${captured.join(", ")}): the stream answers those requests with a publish ack; run cozebus streams prune`);
    }
  }
  return { missingSubjects, extraSubjects, raise, conflicts, capturesRequests, fixed };
}

/** Whether provisioning would change the stream (conflicts and extra subjects are kept, so they do not count). */
export const needsUpdate = (d: StreamDrift): boolean => d.missingSubjects.length + d.raise.length > 0;

/** Whether the stream is exactly what the spec asks for. */
export const matches = (d: StreamDrift): boolean => !needsUpdate(d) && d.extraSubjects.length + d.conflicts.length + d.capturesRequests.length + d.fixed.length === 0;

/**
 * The config additive provisioning writes: the server's config with the
 * spec's missing subjects added and each limit raised to the higher of the
 * two. Descriptions and the discard policy stay as they are once the stream
 * exists, so builds that disagree do not keep rewriting them.
 */
export function additiveConfig(config: StreamConfig, spec: StreamSpec, drift: StreamDrift): StreamConfig {
  const want = toStreamConfig(spec) as unknown as Record<string, number>;
  const merged = { ...config, subjects: [...(config.subjects ?? []), ...drift.missingSubjects] } as unknown as Record<string, unknown>;
  for (const rule of LIMITS) {
    const h = merged[rule.key] as number;
    if (rank(rule, want[rule.key]!) > rank(rule, h)) merged[rule.key] = want[rule.key];
  }
  for (const sw of SWITCHES) if (sw.on(spec)) merged[sw.key] = true;
  return merged as unknown as StreamConfig;
}

/** The config `prune` writes: exactly the spec's subjects and limits, the rest of the server's config kept. */
export function exactConfig(config: StreamConfig, spec: StreamSpec): StreamConfig {
  const { name: _name, retention: _r, storage: _s, ...wanted } = toStreamConfig(spec);
  return { ...config, ...wanted };
}

/** Semver-ish comparison of `x.y.z` (pre-release tags ignored): > 0 when a is newer. */
export function compareVersions(a: string, b: string): number {
  const p = (v: string): number[] => v.split(/[.+-]/).slice(0, 3).map((n) => Number.parseInt(n, 10) || 0);
  const x = p(a);
  const y = p(b);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}
