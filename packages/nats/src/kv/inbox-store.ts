import { JetStreamApiCodes, JetStreamApiError, StorageType, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { ClaimResult, InboxClaim, InboxKey, InboxStore, InboxTimes } from "@cozebus/core/inbox";
import { ConfigError } from "@cozebus/core";
import type { Bus } from "../connection/bus.js";

export interface KvInboxOptions {
  /** The bucket of a group (default `cozebus_inbox_<group>`, characters outside [-_A-Za-z0-9] as `_` plus a hash). */
  readonly bucket?: (group: string) => string;
  /** Replicas of a bucket it creates (default: the bus's NATS_STREAM_REPLICAS). */
  readonly replicas?: number;
  /** Storage of a bucket it creates (default `file`: ids survive a server restart). */
  readonly storage?: "file" | "memory";
  /**
   * Create a group's bucket on first use (default true). false: only
   * `provision()` creates buckets, and a missing one makes claims fail
   * (handling pauses: the guard retries) instead of creating it.
   */
  readonly createOnDemand?: boolean;
}

/** How a bucket forgets: per-entry TTL (nats-server 2.11+) or the bucket's max age. */
export type KvInboxMode = "key-ttl" | "max-age";

export interface KvInboxBucket {
  readonly group: string;
  readonly bucket: string;
  readonly mode: KvInboxMode;
  /** The bucket's max age in ms (0: none; per-entry TTLs bound every entry). */
  readonly maxAgeMs: number;
  readonly action: "created" | "updated" | "unchanged";
}

type Value = { s: "claimed"; until: number; exp: number } | { s: "done"; exp: number } | { s: "released" };

interface Opened {
  readonly kv: KV;
  readonly bucket: string;
  readonly mode: KvInboxMode;
  maxAgeMs: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const PLAIN_KEY = /^[-_=A-Za-z0-9]{1,256}$/;
const PLAIN_BUCKET = /^[-_A-Za-z0-9]{1,200}$/;

/** A KV key for any event id: plain ids as they are; others base64url under `b64.` (a plain id never has a dot). */
export function kvInboxKey(eventId: string): string {
  return PLAIN_KEY.test(eventId) ? eventId : `b64.${Buffer.from(eventId, "utf8").toString("base64url")}`;
}

function defaultBucket(group: string): string {
  if (PLAIN_BUCKET.test(group)) return `cozebus_inbox_${group}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < group.length; i++) h = Math.imul(h ^ group.charCodeAt(i), 0x01000193) >>> 0;
  return `cozebus_inbox_${group.replace(/[^-_A-Za-z0-9]/g, "_").slice(0, 150)}_${h.toString(16)}`;
}

/** Nats-TTL in whole seconds, at least 1 (the server's granularity), never shorter than asked. */
const ttl = (ms: number): string => `${Math.max(1, Math.ceil(ms / 1000))}s`;

function parse(data: Uint8Array): Value | undefined {
  try {
    const v = JSON.parse(dec.decode(data)) as Value;
    return v && (v.s === "claimed" || v.s === "done" || v.s === "released") ? v : undefined;
  } catch {
    return undefined;
  }
}

function wrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === 10164 /* wrong last sequence, unknown */);
}

/**
 * The inbox in JetStream KV: one bucket per group, one key per event id,
 * every decision a compare-and-set on the key's last revision, so two
 * replicas can never both claim an id. On nats-server 2.11+ each entry
 * carries its own TTL (a claim lives a little longer than its lease, a done
 * mark for the retention); on older servers the bucket's max age is the
 * retention (raised when a longer one is asked, never lowered), and each
 * value also records when it expires, so a longer max age never makes an
 * id remembered longer than asked. Lease expiry compares the claimer's
 * clock (stored) with the reader's: keep leases far above clock skew.
 */
export class NatsKvInboxStore implements InboxStore {
  readonly name = "nats-kv";
  readonly #opened = new Map<string, Promise<Opened>>();
  #js: Promise<{ js: JetStreamClient; jsm: JetStreamManager; kvm: Kvm }> | undefined;

  constructor(
    private readonly bus: Bus,
    private readonly options: KvInboxOptions = {},
  ) {
    if (options.replicas !== undefined && ![1, 3, 5].includes(options.replicas)) throw new ConfigError("inbox.replicas", `must be 1, 3 or 5, got ${options.replicas}`);
  }

  /** The bucket a group's ids live in. */
  bucketOf(group: string): string {
    const name = (this.options.bucket ?? defaultBucket)(group);
    if (!PLAIN_BUCKET.test(name)) throw new ConfigError("inbox.bucket", `${JSON.stringify(name)} is not a KV bucket name ([-_A-Za-z0-9], at most 200)`);
    return name;
  }

  #client(): Promise<{ js: JetStreamClient; jsm: JetStreamManager; kvm: Kvm }> {
    this.#js ??= this.bus.jetstream().then((j) => ({ js: j.js, jsm: j.jsm, kvm: new Kvm(j.js) }));
    return this.#js;
  }

  /**
   * Creates the group's bucket, or raises its max age to the retention
   * (max-age mode); never lowers a limit or removes data. Idempotent.
   */
  async provision(group: string, options: { readonly retentionMs: number }): Promise<KvInboxBucket> {
    const opened = await this.#open(group, options.retentionMs, true);
    return { group, bucket: opened.bucket, mode: opened.mode, maxAgeMs: opened.maxAgeMs, action: opened.action };
  }

  async #open(group: string, retentionMs: number, create: boolean): Promise<Opened & { action: KvInboxBucket["action"] }> {
    const bucket = this.bucketOf(group);
    const { jsm, kvm } = await this.#client();
    const stream = `KV_${bucket}`;
    let info = await jsm.streams.info(stream).catch((err: unknown) => {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return undefined;
      throw err;
    });
    let action: KvInboxBucket["action"] = "unchanged";
    if (info === undefined) {
      if (!create) throw new Error(`the inbox bucket ${bucket} of group ${group} does not exist (createOnDemand is off: provision it)`);
      const keyTtl = this.bus.server.supports("kv-key-ttl");
      await kvm.create(bucket, {
        history: 1,
        storage: this.options.storage === "memory" ? StorageType.Memory : StorageType.File,
        replicas: this.options.replicas ?? this.bus.streamReplicas,
        description: `cozebus inbox of group ${group}: event ids being handled and handled`,
        ...(keyTtl ? { markerTTL: 1000 } : { ttl: retentionMs }),
      });
      info = await jsm.streams.info(stream);
      action = "created";
    }
    const mode: KvInboxMode = info.config.allow_msg_ttl === true ? "key-ttl" : "max-age";
    let maxAgeMs = Math.round(info.config.max_age / 1e6);
    if (mode === "max-age" && maxAgeMs !== 0 && maxAgeMs < retentionMs) {
      // Additive: a longer retention raises the max age; a shorter one is kept by each value's own expiry.
      await jsm.streams.update(stream, { max_age: retentionMs * 1e6 });
      maxAgeMs = retentionMs;
      if (action === "unchanged") action = "updated";
    }
    const kv = await kvm.open(bucket);
    return { kv, bucket, mode, maxAgeMs, action };
  }

  #bucket(group: string, retentionMs: number): Promise<Opened> {
    let p = this.#opened.get(group);
    if (!p) {
      p = this.#open(group, retentionMs, this.options.createOnDemand !== false);
      this.#opened.set(group, p);
      p.catch(() => this.#opened.delete(group)); // try again on the next claim
    }
    return p.then(async (o) => {
      // A longer retention than the bucket keeps (max-age mode): raise it first.
      if (o.mode === "max-age" && o.maxAgeMs !== 0 && o.maxAgeMs < retentionMs) {
        const again = await this.#open(group, retentionMs, false);
        o.maxAgeMs = again.maxAgeMs;
      }
      return o;
    });
  }

  /** Writes `value` to the key, only if its last revision is `expect` (0: no entry); returns the new revision, or undefined when another write came first. */
  async #write(o: Opened, key: string, value: Value, expect: number | undefined, ttlMs: number): Promise<number | undefined> {
    const { js } = await this.#client();
    try {
      const ack = await js.publish(`$KV.${o.bucket}.${key}`, enc.encode(JSON.stringify(value)), {
        ...(expect !== undefined ? { expect: { lastSubjectSequence: expect } } : {}),
        ...(o.mode === "key-ttl" ? { ttl: ttl(ttlMs) } : {}),
      });
      return ack.seq;
    } catch (err) {
      if (wrongLastSequence(err)) return undefined;
      throw err;
    }
  }

  async claim(key: InboxKey, times: InboxTimes): Promise<ClaimResult> {
    const o = await this.#bucket(key.group, times.retentionMs);
    const k = kvInboxKey(key.eventId);
    for (let attempt = 0; attempt < 5; attempt++) {
      const entry = await o.kv.get(k);
      const now = Date.now();
      const value = entry !== null && entry.operation === "PUT" ? parse(entry.value) : undefined;
      if (value?.s === "done" && value.exp > now) return { state: "done" };
      if (value?.s === "claimed" && value.until > now && value.exp > now) return { state: "busy", retryInMs: value.until - now };
      // Absent, released, expired, or a lapsed claim: take it, if nobody wrote the key since we read it.
      const claim: Value = { s: "claimed", until: now + times.leaseMs, exp: now + times.retentionMs };
      // The entry may outlive its lease a little; a lapsed claim is taken over by the check above anyway.
      const rev = await this.#write(o, k, claim, entry?.revision ?? 0, times.leaseMs + 1000);
      if (rev !== undefined) return { state: "claimed", claim: { ...key, ...times, token: String(rev) } };
    }
    // Five lost races in a row: someone else is writing this key right now.
    return { state: "busy", retryInMs: 100 };
  }

  async complete(claim: InboxClaim): Promise<void> {
    const o = await this.#bucket(claim.group, claim.retentionMs);
    await this.#write(o, kvInboxKey(claim.eventId), { s: "done", exp: Date.now() + claim.retentionMs }, undefined, claim.retentionMs);
  }

  async release(claim: InboxClaim): Promise<void> {
    const o = await this.#bucket(claim.group, claim.retentionMs);
    // Only our claim: a takeover since then changed the revision, and this write is refused.
    await this.#write(o, kvInboxKey(claim.eventId), { s: "released" }, Number(claim.token), 1000);
  }

  async extend(claim: InboxClaim): Promise<InboxClaim | undefined> {
    const o = await this.#bucket(claim.group, claim.retentionMs);
    const k = kvInboxKey(claim.eventId);
    const now = Date.now();
    const rev = await this.#write(o, k, { s: "claimed", until: now + claim.leaseMs, exp: now + claim.retentionMs }, Number(claim.token), claim.leaseMs + 1000);
    if (rev !== undefined) return { ...claim, token: String(rev) };
    const entry = await o.kv.get(k);
    const value = entry !== null && entry.operation === "PUT" ? parse(entry.value) : undefined;
    return value?.s === "done" ? claim : undefined;
  }

  /** How this group's bucket forgets, once it is open. */
  async bucketInfo(group: string, retentionMs: number): Promise<Omit<KvInboxBucket, "action">> {
    const o = await this.#bucket(group, retentionMs);
    return { group, bucket: o.bucket, mode: o.mode, maxAgeMs: o.maxAgeMs };
  }
}
