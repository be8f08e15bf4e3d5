import { JetStreamApiError, jetstreamManager, type JetStreamManager, type StreamConfig, type StreamInfo } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { JetStreamUnavailableError, StreamConfigError, describe } from "../errors.js";

const NS_PER_MS = 1_000_000;
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
  readonly description?: string;
  readonly replicas: number;
  readonly limits: StreamLimits;
}

export interface StreamOwner {
  readonly prefix: string;
  readonly streamReplicas: number;
}

/** `coze` -> `COZE`, `tenant-a.coze` -> `TENANT_A_COZE`: stream names cannot hold dots. */
export function streamNamePrefix(prefix: string): string {
  return prefix.replace(/[.-]/g, "_").toUpperCase();
}

/** The stream of one domain: `COZE_WORKFLOW` over `coze.workflow.>`. */
export function domainStream(owner: StreamOwner, domain: string, limits: Partial<StreamLimits> = {}): StreamSpec {
  if (!/^[a-z][a-z0-9_]*$/.test(domain)) throw new StreamConfigError(domain, "a domain name is lower-case letters, digits and _");
  return {
    name: `${streamNamePrefix(owner.prefix)}_${domain.toUpperCase()}`,
    subjects: [`${owner.prefix}.${domain}.>`],
    description: `cozebus ${domain} events`,
    replicas: owner.streamReplicas,
    limits: { ...DEFAULT_STREAM_LIMITS, ...limits },
  };
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
  };
}

export interface EnsureResult {
  readonly stream: string;
  readonly action: "created" | "updated" | "unchanged";
  /** Settings that differed and were updated, as `field: server -> wanted`. */
  readonly changed: readonly string[];
}

const UPDATABLE = ["description", "discard", "max_age", "max_bytes", "max_msgs", "max_msg_size", "duplicate_window", "num_replicas"] as const;
const FIXED = ["retention", "storage"] as const;

/** Config values are numbers, strings and booleans; anything else is shown as JSON. */
const show = (v: unknown): string => (typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));

function sameSubjects(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  const x = [...(a ?? [])].sort();
  const y = [...(b ?? [])].sort();
  return x.length === y.length && x.every((s, i) => s === y[i]);
}

/** The JetStream API error code (`err_code`), e.g. 10059 stream not found. */
export function apiCode(err: unknown): number | undefined {
  return err instanceof JetStreamApiError ? err.code : undefined;
}

export async function manager(nc: NatsConnection): Promise<JetStreamManager> {
  try {
    return await jetstreamManager(nc);
  } catch (err) {
    throw new JetStreamUnavailableError(`JetStream is not available on this server or account (${describe(err)}): start nats-server with -js, or enable JetStream for the account`, { cause: err });
  }
}

/** How a stream on the server compares with its spec. */
export interface StreamDrift {
  /** Settings that differ and can be updated in place, as `field: server -> wanted`. */
  readonly updatable: readonly string[];
  /** Settings that differ and cannot change in place (retention, storage). */
  readonly fixed: readonly string[];
}

/** Compares a stream's config on the server with the spec; pure, sends nothing. */
export function compareStream(config: StreamConfig, spec: StreamSpec): StreamDrift {
  const have = config as unknown as Record<string, unknown>;
  const want = toStreamConfig(spec) as unknown as Record<string, unknown>;
  const fixed = FIXED.filter((k) => have[k] !== want[k]).map((k) => `${k} is ${show(have[k])} on the server but ${show(want[k])} is wanted`);
  const updatable: string[] = [];
  if (!sameSubjects(config.subjects, spec.subjects)) updatable.push(`subjects: ${config.subjects.join(",")} -> ${spec.subjects.join(",")}`);
  for (const k of UPDATABLE) {
    if (want[k] !== undefined && have[k] !== want[k]) updatable.push(`${k}: ${show(have[k])} -> ${show(want[k])}`);
  }
  return { updatable, fixed };
}

/** What `checkStream` found, without changing anything. */
export type StreamCheck =
  | { readonly stream: string; readonly status: "missing" }
  | { readonly stream: string; readonly status: "matches"; readonly info: StreamInfo }
  | { readonly stream: string; readonly status: "differs"; readonly info: StreamInfo; readonly drift: StreamDrift };

/** Reads the stream and compares it with the spec (for `cozebus doctor` and `streams info`). */
export async function checkStream(nc: NatsConnection, spec: StreamSpec): Promise<StreamCheck> {
  const jsm = await manager(nc);
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(spec.name);
  } catch (err) {
    if (apiCode(err) === 10059) return { stream: spec.name, status: "missing" };
    throw explain(spec, err);
  }
  const drift = compareStream(info.config, spec);
  return drift.updatable.length + drift.fixed.length === 0 ? { stream: spec.name, status: "matches", info } : { stream: spec.name, status: "differs", info, drift };
}

/**
 * Creates the stream when missing; when present, compares every managed
 * setting, updates what may change in place and refuses, with the list,
 * what may not. Call it at start-up or from `cozebus streams apply`, never
 * per publish.
 */
export async function ensureStream(nc: NatsConnection, spec: StreamSpec): Promise<EnsureResult> {
  const jsm = await manager(nc);
  const wanted = toStreamConfig(spec);
  let info: StreamInfo | undefined;
  try {
    info = await jsm.streams.info(spec.name);
  } catch (err) {
    if (apiCode(err) !== 10059) throw explain(spec, err);
  }
  if (info === undefined) {
    try {
      await jsm.streams.add(wanted);
    } catch (err) {
      throw explain(spec, err);
    }
    return { stream: spec.name, action: "created", changed: [] };
  }
  const { updatable, fixed } = compareStream(info.config, spec);
  if (fixed.length > 0) {
    throw new StreamConfigError(spec.name, `${fixed.join("; ")}; these cannot change in place: migrate to a new stream, or align the configuration with the server`);
  }
  if (updatable.length === 0) return { stream: spec.name, action: "unchanged", changed: [] };
  try {
    await jsm.streams.update(spec.name, { ...info.config, ...wanted });
  } catch (err) {
    throw explain(spec, err);
  }
  return { stream: spec.name, action: "updated", changed: updatable };
}

function explain(spec: StreamSpec, err: unknown): Error {
  const code = apiCode(err);
  const msg = describe(err);
  if (code === 10065) return new StreamConfigError(spec.name, `its subjects ${spec.subjects.join(", ")} overlap another stream's (${msg}); each subject may belong to one stream only`, { cause: err });
  if (/replicas > 1 not supported|insufficient (storage |memory )?resources|no suitable peers/i.test(msg) && spec.replicas > 1) {
    return new StreamConfigError(spec.name, `${spec.replicas} replicas are not possible here (${msg}): lower NATS_STREAM_REPLICAS to the number of JetStream servers, or 1 for a single server`, { cause: err });
  }
  if (/insufficient (storage |memory )?resources/i.test(msg)) {
    const serverLimit = spec.limits.storage === "memory" ? "max_memory_store" : "max_file_store";
    return new StreamConfigError(spec.name, `the server cannot reserve ${spec.limits.maxBytes} bytes (${msg}): lower maxBytes or raise the server's ${serverLimit}`, { cause: err });
  }
  if (/jetstream not enabled/i.test(msg) || (err as { code?: unknown })?.code === "503") {
    return new JetStreamUnavailableError(`JetStream is not enabled (${msg}): start nats-server with -js, or enable JetStream for the account`, { cause: err });
  }
  return new StreamConfigError(spec.name, msg, { cause: err });
}
