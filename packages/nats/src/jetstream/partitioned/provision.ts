import { JetStreamApiCodes, type ConsumerConfig, type ConsumerInfo, type JetStreamManager, type StreamConfig, type StreamInfo, type SubjectTransformConfig } from "@nats-io/jetstream";
import { FEATURES } from "../../connection/server-info.js";
import { FeatureUnavailableError, StreamConfigError, describe } from "../../errors.js";
import { apiCode } from "../streams.js";
import { META, PIN_GROUP, membersStreamName, partitionConsumerName, partitionFilter, partitionStreamName, partitionTransforms } from "./plan.js";

const NS_PER_MS = 1_000_000;
/** nats-server's JSStreamNameExistErr and JSConsumerAlreadyExists (a concurrent create with another config). */
const STREAM_NAME_IN_USE = 10058;
const CONSUMER_EXISTS = 10148;

export const PINNED_FALLBACK =
  'Upgrade nats-server to 2.11 or later, or use orderBy "subject" (per-subject order within one instance: run a single instance of the group, or accept interleaving across instances).';

/** What a partitioned group needs on the server, computed once per start. */
export interface PartitionLayout {
  readonly sourceStream: string;
  readonly stream: string;
  readonly consumers: readonly string[];
  readonly membersStream: string;
}

export interface ProvisionInput {
  readonly jsm: JetStreamManager;
  readonly prefix: string;
  readonly replicas: number;
  /** The domain stream events are published to. */
  readonly source: string;
  readonly group: string;
  /** The durable name (group, plus a hash of the filter when there is one). */
  readonly durable: string;
  readonly filters: readonly string[];
  readonly partitions: number;
  readonly description: string;
  readonly consumer: {
    readonly ackWaitMs: number;
    readonly maxDeliver: number;
    readonly maxAckPending: number;
    readonly pinnedTtlMs: number;
  };
}

/**
 * Creates, or provisions additively and idempotently, everything a
 * partitioned group uses: the partition stream (sourcing the domain stream
 * through partition transforms), one pinned-client consumer per partition,
 * and the members stream. Never removes anything; refuses (with what to do)
 * what cannot change in place, such as the number of partitions.
 */
export async function provisionPartitions(input: ProvisionInput, serverVersion: string): Promise<PartitionLayout> {
  const { jsm } = input;
  let source: StreamInfo;
  try {
    source = await jsm.streams.info(input.source);
  } catch (err) {
    if (apiCode(err) === JetStreamApiCodes.StreamNotFound) throw new StreamConfigError(input.source, "does not exist, so no partitioned group can read it: provision the domain stream first");
    throw new StreamConfigError(input.source, describe(err), { cause: err });
  }
  const patterns = input.filters.length > 0 ? input.filters : source.config.subjects ?? [];
  if (patterns.length === 0) throw new StreamConfigError(input.source, "has no subjects and no filter was given: nothing to partition");
  const stream = partitionStreamName(input.source, input.durable);
  await ensurePartitionStream(input, stream, source, partitionTransforms(patterns, input.partitions), serverVersion);
  const consumers = Array.from({ length: input.partitions }, (_, i) => partitionConsumerName(input.durable, i));
  await Promise.all(consumers.map((name, i) => ensurePartitionConsumer(input, stream, name, i, serverVersion)));
  const membersStream = await ensureMembersStream(input);
  return { sourceStream: input.source, stream, consumers, membersStream };
}

async function ensurePartitionStream(input: ProvisionInput, name: string, source: StreamInfo, transforms: SubjectTransformConfig[], serverVersion: string): Promise<void> {
  const { jsm } = input;
  const src = source.config;
  const wanted: Partial<StreamConfig> & { name: string } = {
    name,
    description: input.description,
    // Limits, not work-queue: nats-server finds where a source left off from the
    // last stored message, and an emptied work-queue stream would re-source (or,
    // by time, skip) events after a restart. The copy keeps what the domain keeps.
    retention: "limits",
    storage: src.storage,
    num_replicas: input.replicas,
    max_age: src.max_age,
    // No byte cap of its own: the domain stream's cap already bounds what there is
    // to copy (plus a longer subject and a source header per event), and a cap here
    // would either drop unhandled events (discard old) or stall the group (discard
    // new), and would reserve storage a second time on servers that reserve max_bytes.
    max_bytes: -1,
    max_msgs: -1,
    discard: "old",
    duplicate_window: src.duplicate_window,
    sources: [{ name: input.source, subject_transforms: transforms }],
    metadata: { [META.partitions]: String(input.partitions), [META.group]: input.group, [META.source]: input.source },
  };
  let info: StreamInfo | undefined;
  try {
    info = await jsm.streams.info(name);
  } catch (err) {
    if (apiCode(err) !== JetStreamApiCodes.StreamNotFound) throw new StreamConfigError(name, describe(err), { cause: err });
  }
  if (info === undefined) {
    try {
      info = await jsm.streams.add(wanted);
    } catch (err) {
      if (apiCode(err) === STREAM_NAME_IN_USE) return ensurePartitionStream(input, name, source, transforms, serverVersion);
      throw new StreamConfigError(name, describe(err), { cause: err });
    }
    return verifyTransforms(name, info, transforms, serverVersion);
  }
  const have = info.config;
  const count = have.metadata?.[META.partitions];
  if (count !== String(input.partitions)) {
    throw new StreamConfigError(
      name,
      `has ${count ?? "an unknown number of"} partitions, ${input.partitions} wanted: the number of partitions cannot change in place (events of one key would land in two partitions); keep ${count ?? "it"}, or use a new group name, or delete this stream and its consumers once the group is drained`,
    );
  }
  const sources = have.sources ?? [];
  const mine = sources.find((s) => s.name === input.source);
  if (mine === undefined) throw new StreamConfigError(name, `does not source ${input.source} (it sources ${sources.map((s) => s.name).join(", ") || "nothing"}): another group's stream has this name`);
  // Additive: a build that knows more events adds their transforms; none is ever removed
  // (an older build of the group may still handle events a newer one dropped).
  const present = new Set((mine.subject_transforms ?? []).map((t) => t.src));
  const missing = transforms.filter((t) => !present.has(t.src));
  if (missing.length === 0) return;
  const updated: StreamConfig = { ...have, sources: sources.map((s) => (s === mine ? { ...s, subject_transforms: [...(s.subject_transforms ?? []), ...missing] } : s)) };
  try {
    info = await jsm.streams.update(name, updated);
  } catch (err) {
    throw new StreamConfigError(name, `could not add partition transforms for ${missing.map((t) => t.src).join(", ")}: ${describe(err)}`, { cause: err });
  }
  verifyTransforms(name, info, missing, serverVersion);
}

/** A server older than 2.10 drops subject_transforms it does not know, and would copy events unpartitioned: refuse. */
function verifyTransforms(name: string, info: StreamInfo, transforms: readonly SubjectTransformConfig[], serverVersion: string): void {
  const stored = new Set((info.config.sources?.[0]?.subject_transforms ?? []).map((t) => t.src));
  if (transforms.every((t) => stored.has(t.src))) return;
  throw new FeatureUnavailableError("pinned-client", `the partition stream ${name} needs nats-server ${FEATURES["pinned-client"].since} or later: the JetStream API (${serverVersion} connected) dropped its source subject transforms. ${PINNED_FALLBACK}`);
}

function consumerConfig(input: ProvisionInput, name: string, partition: number): Partial<ConsumerConfig> {
  const c = input.consumer;
  return {
    durable_name: name,
    ack_policy: "explicit",
    deliver_policy: "all",
    ack_wait: c.ackWaitMs * NS_PER_MS,
    max_deliver: c.maxDeliver,
    max_ack_pending: c.maxAckPending,
    filter_subject: partitionFilter(partition),
    priority_policy: "pinned_client",
    priority_groups: [PIN_GROUP],
    priority_timeout: c.pinnedTtlMs * NS_PER_MS,
    description: `${input.description}: partition ${partition} of ${input.partitions}`,
  };
}

type Reconcilable = Pick<ConsumerConfig, "ack_wait" | "max_deliver" | "max_ack_pending" | "filter_subject" | "priority_timeout" | "description">;
const RECONCILED: ReadonlyArray<keyof Reconcilable> = ["ack_wait", "max_deliver", "max_ack_pending", "filter_subject", "priority_timeout", "description"];

async function ensurePartitionConsumer(input: ProvisionInput, stream: string, name: string, partition: number, serverVersion: string): Promise<void> {
  const { jsm } = input;
  const wanted = consumerConfig(input, name, partition);
  let info: ConsumerInfo | undefined;
  try {
    info = await jsm.consumers.info(stream, name);
  } catch (err) {
    if (apiCode(err) !== JetStreamApiCodes.ConsumerNotFound) throw new StreamConfigError(stream, `consumer ${name}: ${describe(err)}`, { cause: err });
  }
  if (info === undefined) {
    try {
      info = await jsm.consumers.add(stream, wanted);
    } catch (err) {
      if (apiCode(err) === CONSUMER_EXISTS) return ensurePartitionConsumer(input, stream, name, partition, serverVersion);
      throw new StreamConfigError(stream, `consumer ${name}: ${describe(err)}`, { cause: err });
    }
  } else {
    const have = info.config as unknown as Record<string, unknown>;
    const want = wanted as unknown as Record<string, unknown>;
    if (have["priority_policy"] !== "pinned_client") {
      throw new StreamConfigError(stream, `consumer ${name} exists without the pinned_client priority policy, so several instances would be served at once: delete it to have it recreated`);
    }
    const diff = RECONCILED.filter((k) => have[k] !== want[k]);
    if (diff.length === 0) return;
    try {
      info = await jsm.consumers.update(stream, name, wanted);
    } catch (err) {
      throw new StreamConfigError(stream, `consumer ${name}: could not update ${diff.join(", ")}: ${describe(err)}`, { cause: err });
    }
  }
  // A JetStream API older than 2.11 ignores priority_policy and would create a plain
  // consumer that serves every instance at once: refuse rather than interleave keys.
  if ((info.config as { priority_policy?: string }).priority_policy !== "pinned_client") {
    throw new FeatureUnavailableError("pinned-client", `the partition consumer ${stream} > ${name} needs nats-server ${FEATURES["pinned-client"].since} or later: the JetStream API (${serverVersion} connected) did not keep priority_policy "pinned_client". ${PINNED_FALLBACK}`);
  }
}

/**
 * One stream for every partitioned group under the prefix: one subject per
 * (group, member), the last heartbeat only, each expiring by its own TTL
 * (2.11+ per-message TTL), so a member that stops heartbeating disappears
 * on the server's clock — no clock comparison between hosts.
 */
async function ensureMembersStream(input: ProvisionInput): Promise<string> {
  const { jsm } = input;
  const name = membersStreamName(input.prefix);
  const wanted: Partial<StreamConfig> & { name: string } = {
    name,
    description: "cozebus partitioned group members: heartbeats that expire by TTL",
    subjects: [`${input.prefix}.members.>`],
    retention: "limits",
    storage: "file",
    num_replicas: input.replicas,
    max_msgs_per_subject: 1,
    allow_msg_ttl: true,
    // Belt and braces: a heartbeat is worthless after minutes even without its TTL.
    max_age: 60 * 60 * 1000 * NS_PER_MS,
    max_bytes: 64 * 1024 * 1024,
    discard: "old",
    duplicate_window: 1000 * NS_PER_MS,
  };
  let info: StreamInfo | undefined;
  try {
    info = await jsm.streams.info(name);
  } catch (err) {
    if (apiCode(err) !== JetStreamApiCodes.StreamNotFound) throw new StreamConfigError(name, describe(err), { cause: err });
  }
  if (info === undefined) {
    try {
      await jsm.streams.add(wanted);
    } catch (err) {
      if (apiCode(err) === STREAM_NAME_IN_USE) return ensureMembersStream(input);
      throw new StreamConfigError(name, describe(err), { cause: err });
    }
    return name;
  }
  if (info.config.allow_msg_ttl !== true) {
    try {
      await jsm.streams.update(name, { ...info.config, allow_msg_ttl: true });
    } catch (err) {
      throw new StreamConfigError(name, `needs allow_msg_ttl for member heartbeats: ${describe(err)}`, { cause: err });
    }
  }
  return name;
}
