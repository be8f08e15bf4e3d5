import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager, type StreamConfig, type StreamInfo } from "@nats-io/jetstream";
import { jserrors } from "@nats-io/jetstream/internal";
import type { NatsConnection } from "@nats-io/transport-node";
import type { JetStreamApiConfig } from "../config/resolve.js";
import { explainPermission, jetstreamNotAnswering, jetstreamOptions, permissionViolation } from "../connection/routing.js";
import { JetStreamUnavailableError, StreamConfigError, describe } from "../errors.js";
import { additiveConfig, compareStream, compareVersions, exactConfig, matches, needsUpdate, overlaps, show, toStreamConfig, type StreamDrift } from "./stream-plan.js";

export { compareStream, toStreamConfig, type StreamDrift } from "./stream-plan.js";

/** JetStream API errors nats.js's JetStreamApiCodes does not name (nats-server's JSStreamNameExistErr, JSStreamSubjectOverlapErr). */
const STREAM_NAME_IN_USE = 10058;
const SUBJECTS_OVERLAP = 10065;

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Stream limits in plain units. The defaults are chosen so that unconsumed
 * events are never dropped silently: retention is by limits (not interest,
 * which discards messages nobody is subscribed to yet), and a full stream
 * refuses new events (discard "new", a loud publish error) instead of
 * quietly deleting the oldest ones.
 */
export interface StreamLimits {
  /** How long events are kept (default 7 days). */
  readonly maxAgeMs: number;
  /** Size cap of the stream (default 1 GiB). */
  readonly maxBytes: number;
  /** Message count cap, -1 for none (default -1). */
  readonly maxMsgs: number;
  /** Largest accepted event (default 1 MiB). */
  readonly maxMsgSize: number;
  /** Window in which a repeated Nats-Msg-Id is dropped as a duplicate (default 2 min). Publisher retries stay inside it. */
  readonly duplicateWindowMs: number;
  /** What happens when full: "new" refuses publishes (default), "old" deletes the oldest events. */
  readonly discard: "new" | "old";
  /** "file" (default) or "memory". Cannot be changed on an existing stream. */
  readonly storage: "file" | "memory";
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = Object.freeze({
  maxAgeMs: 7 * DAY_MS,
  maxBytes: 1024 ** 3,
  maxMsgs: -1,
  maxMsgSize: 1024 ** 2,
  duplicateWindowMs: 2 * 60 * 1000,
  discard: "new",
  storage: "file",
});

export const DEFAULT_DLQ_LIMITS: StreamLimits = Object.freeze({ ...DEFAULT_STREAM_LIMITS, maxAgeMs: 30 * DAY_MS });

export interface StreamSpec {
  readonly name: string;
  readonly subjects: readonly string[];
  /** Subjects the stream must never capture: request/reply subjects, which a stream would answer with its publish ack. */
  readonly excludes?: readonly string[];
  readonly description?: string;
  readonly replicas: number;
  readonly limits: StreamLimits;
  /** Server features the stream turns on (each only where the server has it): per-message TTL, message schedules, atomic batches. */
  readonly allow?: StreamAllow;
}

export interface StreamAllow {
  readonly msgTtl?: boolean;
  readonly schedules?: boolean;
  readonly atomic?: boolean;
}

export interface StreamOwner {
  readonly prefix: string;
  readonly streamReplicas: number;
}

/** `coze` -> `COZE`, `tenant-a.coze` -> `TENANT_A_COZE`: stream names cannot hold dots. */
export function streamNamePrefix(prefix: string): string {
  return prefix.replace(/[.-]/g, "_").toUpperCase();
}

/** The stream name of one domain: `COZE_WORKFLOW`. */
export function domainStreamName(owner: Pick<StreamOwner, "prefix">, domain: string): string {
  if (!/^[a-z][a-z0-9_]*$/.test(domain)) throw new StreamConfigError(domain, "a domain name is lower-case letters, digits and _");
  return `${streamNamePrefix(owner.prefix)}_${domain.toUpperCase()}`;
}

/**
 * The stream of one domain, `COZE_WORKFLOW`, over exactly the subjects
 * given. The typed layer derives them from the domain's definition (its
 * at-least-once events, never its request/reply subjects): see
 * `domainClient(...).streams()`, the one place that spec is made.
 */
export function domainStream(
  owner: StreamOwner,
  domain: string,
  subjects: readonly string[],
  limits: Partial<StreamLimits> = {},
  excludes: readonly string[] = [],
  allow: StreamAllow = {},
): StreamSpec {
  const name = domainStreamName(owner, domain);
  if (subjects.length === 0) throw new StreamConfigError(name, "a stream needs at least one subject");
  for (const s of subjects) {
    const captured = excludes.filter((x) => overlaps(s, x));
    if (captured.length > 0) throw new StreamConfigError(name, `subject ${s} would capture request/reply subjects (${captured.join(", ")}): a stream must not answer requests`);
  }
  return {
    name,
    subjects: [...subjects],
    ...(excludes.length > 0 ? { excludes: [...excludes] } : {}),
    description: `cozebus ${domain} events`,
    replicas: owner.streamReplicas,
    limits: { ...DEFAULT_STREAM_LIMITS, ...limits },
    ...(Object.values(allow).some(Boolean) ? { allow } : {}),
  };
}

/**
 * Where a domain's delayed publishes wait: `coze._schedules.<domain>.<event id>`,
 * one schedule subject per event (the server keeps one schedule per subject).
 * The second token can never be a domain (domains start with a letter), so
 * no event template produces it, and it overlaps no event subject.
 */
export function scheduleSubjects(owner: Pick<StreamOwner, "prefix">, domain: string): string {
  return `${owner.prefix}._schedules.${domain}.>`;
}

/** The dead-letter stream: `COZE_DLQ` over `coze.dlq.>`. */
export function deadLetterStream(owner: StreamOwner, limits: Partial<StreamLimits> = {}): StreamSpec {
  return {
    name: `${streamNamePrefix(owner.prefix)}_DLQ`,
    subjects: [`${owner.prefix}.dlq.>`],
    description: "cozebus dead letters: original bytes and headers plus why, where from and how many deliveries",
    replicas: owner.streamReplicas,
    limits: { ...DEFAULT_DLQ_LIMITS, ...limits },
  };
}

export interface EnsureResult {
  readonly stream: string;
  readonly action: "created" | "updated" | "unchanged";
  /** What provisioning changed, as `subjects: + x` or `field: server -> wanted`. */
  readonly changed: readonly string[];
  /** What provisioning found different and kept, with why (StreamDrift's capturesRequests and conflicts). */
  readonly conflicts: readonly string[];
}

/** The JetStream API error code (`err_code`), e.g. JetStreamApiCodes.StreamNotFound. */
export function apiCode(err: unknown): number | undefined {
  return err instanceof JetStreamApiError ? err.code : undefined;
}

/**
 * A JetStream manager bound to the configured API (default, domain or API
 * prefix), checked with one account-info request. What fails is explained
 * by the setting that fixes it: a refused inbox or API subject, or no
 * JetStream answering where the configuration says it is.
 */
export async function manager(nc: NatsConnection, api: JetStreamApiConfig = { kind: "default" }, inboxPrefix?: string): Promise<JetStreamManager> {
  // checkAPI off: the check below is the same request, but its failure is explained here with the API prefix nats.js derived.
  const jsm = await jetstreamManager(nc, { ...jetstreamOptions(api), checkAPI: false });
  const apiPrefix = jsm.getOptions().apiPrefix ?? "";
  try {
    await jsm.getAccountInfo();
  } catch (err) {
    const pv = permissionViolation(err);
    if (pv !== undefined) throw explainPermission(pv, { inboxPrefix, apiPrefix }, "JetStream cannot be used");
    if (err instanceof jserrors.JetStreamNotEnabled) throw new JetStreamUnavailableError(jetstreamNotAnswering({ api, apiPrefix }), { cause: err });
    throw new JetStreamUnavailableError(`JetStream is not available on this server or account (${describe(err)}): start nats-server with -js, or enable JetStream for the account`, { cause: err });
  }
  return jsm;
}

/** Stream metadata key recording that a build (`<package>@<version>`) provisioned the stream; the value is when it first did. */
export const BUILD_METADATA_PREFIX = "cozebus.build.";

/** Which builds provisioned a stream, oldest first, read from its metadata (empty on servers without metadata). */
export function provisionedBy(config: StreamConfig): Array<{ readonly build: string; readonly since: string }> {
  return Object.entries(config.metadata ?? {})
    .filter(([k]) => k.startsWith(BUILD_METADATA_PREFIX))
    .map(([k, since]) => ({ build: k.slice(BUILD_METADATA_PREFIX.length), since }))
    .sort((a, b) => a.since.localeCompare(b.since));
}

/** How provisioning records itself: the build's name, and whether the server keeps stream metadata (2.10+). */
export interface ProvisionOptions {
  /** `<package>@<version>` of the build (or builds: the CLI provisions the shared DLQ for all domains) provisioning, recorded in the stream's metadata. */
  readonly build?: string | readonly string[];
  readonly metadata?: boolean;
}

function withBuild(config: StreamConfig, options: ProvisionOptions): { config: StreamConfig; added: string[] } {
  if (options.build === undefined || options.metadata !== true) return { config, added: [] };
  const builds = typeof options.build === "string" ? [options.build] : options.build;
  const added = builds.map((b) => `${BUILD_METADATA_PREFIX}${b}`).filter((k) => config.metadata?.[k] === undefined);
  if (added.length === 0) return { config, added };
  const now = new Date().toISOString();
  return { config: { ...config, metadata: { ...config.metadata, ...Object.fromEntries(added.map((k) => [k, now])) } }, added };
}

/** What `checkStream` found, without changing anything. */
export type StreamCheck =
  | { readonly stream: string; readonly status: "missing" }
  | { readonly stream: string; readonly status: "matches"; readonly info: StreamInfo; readonly drift: StreamDrift }
  | { readonly stream: string; readonly status: "differs"; readonly info: StreamInfo; readonly drift: StreamDrift };

async function readStream(jsm: JetStreamManager, spec: StreamSpec): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(spec.name);
  } catch (err) {
    if (apiCode(err) === JetStreamApiCodes.StreamNotFound) return undefined;
    throw explain(spec, err);
  }
}

/** Reads the stream and compares it with the spec (for `cozebus doctor` and `streams info`). */
export async function checkStream(jsm: JetStreamManager, spec: StreamSpec): Promise<StreamCheck> {
  const info = await readStream(jsm, spec);
  if (info === undefined) return { stream: spec.name, status: "missing" };
  const drift = compareStream(info.config, spec);
  return { stream: spec.name, status: matches(drift) ? "matches" : "differs", info, drift };
}

/**
 * Creates the stream when missing; when present, provisions additively:
 * adds the subjects the spec publishes on and raises limits it needs
 * higher, and never removes a subject or lowers a limit (another build of
 * the domain may still rely on them: rolling upgrades). What it keeps
 * although it differs comes back in `conflicts`; `pruneStream` removes it.
 * Retention and storage cannot change in place: refused with the list.
 * Call it at start-up or from `cozebus streams apply`, never per publish.
 */
export async function ensureStream(jsm: JetStreamManager, spec: StreamSpec, options: ProvisionOptions = {}): Promise<EnsureResult> {
  const info = await readStream(jsm, spec);
  if (info === undefined) {
    const { config } = withBuild(toStreamConfig(spec) as StreamConfig, options);
    try {
      await jsm.streams.add(config);
    } catch (err) {
      // Another build or replica created it in the meantime: provision against what is there.
      if (apiCode(err) === STREAM_NAME_IN_USE) return ensureStream(jsm, spec, options);
      throw explain(spec, err);
    }
    return { stream: spec.name, action: "created", changed: [], conflicts: [] };
  }
  const drift = compareStream(info.config, spec);
  if (drift.fixed.length > 0) {
    throw new StreamConfigError(spec.name, `${drift.fixed.join("; ")}; these cannot change in place: migrate to a new stream, or align the configuration with the server`);
  }
  const changed = [...drift.missingSubjects.map((s) => `subjects: + ${s}`), ...drift.raise];
  const { config, added } = withBuild(needsUpdate(drift) ? additiveConfig(info.config, spec, drift) : info.config, options);
  changed.push(...added.map((k) => `metadata: + ${k}`));
  const conflicts = [...drift.capturesRequests, ...drift.conflicts];
  if (changed.length === 0) return { stream: spec.name, action: "unchanged", changed, conflicts };
  try {
    await jsm.streams.update(spec.name, config);
  } catch (err) {
    throw explain(spec, err);
  }
  return { stream: spec.name, action: "updated", changed, conflicts };
}

/** One change `prune` makes, with why. */
export interface PruneChange {
  readonly change: string;
  readonly reason: string;
}

export interface PrunePlan {
  readonly stream: string;
  /** Nothing to prune: the stream has exactly the spec's subjects and limits. */
  readonly empty: boolean;
  readonly changes: readonly PruneChange[];
  /** Builds newer than this one that provisioned the stream: pruning from an older build removes what they publish. */
  readonly newerBuilds: readonly string[];
  /** True when the changes were written (`apply: true` and something to change). */
  readonly applied: boolean;
}

/**
 * Lists what additive provisioning keeps and this build does not need —
 * subjects no event of the spec publishes on (with the events stored on
 * them), limits above the spec's, a differing discard policy — and, with
 * `apply: true`, makes the stream exactly the spec. Stored events are never
 * deleted: a removed subject's events stay until they age out, but new
 * publishes to it are refused. Refuses to apply when a newer build
 * provisioned the stream, unless `force` is set.
 */
export async function pruneStream(
  jsm: JetStreamManager,
  spec: StreamSpec,
  options: { readonly apply?: boolean; readonly force?: boolean; readonly build?: string } = {},
): Promise<PrunePlan> {
  const info = await readStream(jsm, spec);
  if (info === undefined) throw new StreamConfigError(spec.name, "does not exist: nothing to prune (cozebus streams apply creates it)");
  const drift = compareStream(info.config, spec);
  if (drift.fixed.length > 0) throw new StreamConfigError(spec.name, `${drift.fixed.join("; ")}; these cannot change in place`);
  const changes: PruneChange[] = [];
  for (const subject of drift.extraSubjects) {
    const stored = await storedOn(jsm, spec.name, subject);
    const captures = (spec.excludes ?? []).filter((x) => overlaps(subject, x));
    changes.push({
      change: `subjects: - ${subject}`,
      reason:
        captures.length > 0
          ? `it captures request/reply subjects (${captures.join(", ")}), so the stream answers requests with a publish ack`
          : `no event of ${options.build ?? "this build"} is published on it; ${stored} stored event(s) stay until they age out, new publishes to it are refused`,
    });
  }
  const exact = exactConfig(info.config, spec) as unknown as Record<string, unknown>;
  const have = info.config as unknown as Record<string, unknown>;
  for (const key of ["max_age", "max_bytes", "max_msgs", "max_msg_size", "duplicate_window", "num_replicas", "discard"]) {
    if (have[key] !== exact[key]) changes.push({ change: `${key}: ${show(have[key])} -> ${show(exact[key])}`, reason: "this build's spec asks for it; provisioning keeps the more permissive value" });
  }
  const mine = options.build?.slice(options.build.lastIndexOf("@") + 1);
  const pkg = options.build?.slice(0, options.build.lastIndexOf("@"));
  const newerBuilds = provisionedBy(info.config)
    .map((b) => b.build)
    .filter((b) => mine !== undefined && b.slice(0, b.lastIndexOf("@")) === pkg && compareVersions(b.slice(b.lastIndexOf("@") + 1), mine) > 0);
  const empty = changes.length === 0;
  if (!options.apply || empty) return { stream: spec.name, empty, changes, newerBuilds, applied: false };
  if (newerBuilds.length > 0 && !options.force) {
    throw new StreamConfigError(spec.name, `newer builds provisioned it (${newerBuilds.join(", ")}): prune from the newest build, or pass --force once every replica of those builds is gone`);
  }
  try {
    await jsm.streams.update(spec.name, exactConfig(info.config, spec));
  } catch (err) {
    throw explain(spec, err);
  }
  return { stream: spec.name, empty, changes, newerBuilds, applied: true };
}

/** Events stored on a subject pattern of a stream. */
async function storedOn(jsm: JetStreamManager, stream: string, subject: string): Promise<number> {
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  return Object.values(info.state.subjects ?? {}).reduce((a, n) => a + n, 0);
}

function explain(spec: StreamSpec, err: unknown): Error {
  const code = apiCode(err);
  const msg = describe(err);
  if (code === SUBJECTS_OVERLAP) return new StreamConfigError(spec.name, `its subjects ${spec.subjects.join(", ")} overlap another stream's (${msg}); each subject may belong to one stream only`, { cause: err });
  if (/replicas > 1 not supported|insufficient (storage |memory )?resources|no suitable peers/i.test(msg) && spec.replicas > 1) {
    return new StreamConfigError(spec.name, `${spec.replicas} replicas are not possible here (${msg}): lower NATS_STREAM_REPLICAS to the number of JetStream servers, or 1 for a single server`, { cause: err });
  }
  if (/insufficient (storage |memory )?resources/i.test(msg)) {
    const serverLimit = spec.limits.storage === "memory" ? "max_memory_store" : "max_file_store";
    return new StreamConfigError(spec.name, `the server cannot reserve ${spec.limits.maxBytes} bytes (${msg}): lower maxBytes or raise the server's ${serverLimit}`, { cause: err });
  }
  // nats.js raises JetStreamNotEnabled both for "no responders" and for the account's JetStreamNotEnabledForAccount code.
  if (err instanceof jserrors.JetStreamNotEnabled) {
    return new JetStreamUnavailableError(`JetStream is not enabled (${msg}): start nats-server with -js, or enable JetStream for the account`, { cause: err });
  }
  return new StreamConfigError(spec.name, msg, { cause: err });
}
