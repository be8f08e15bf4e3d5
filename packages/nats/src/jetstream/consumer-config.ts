import { createHash } from "node:crypto";
import { JetStreamApiCodes, type ConsumerConfig, type ConsumerInfo, type JetStreamManager } from "@nats-io/jetstream";
import { StreamConfigError, describe } from "../errors.js";
import type { RetryPolicy } from "./retry-policy.js";
import { apiCode } from "./streams.js";

const NS_PER_MS = 1_000_000;

export interface ConsumerSpec {
  readonly stream: string;
  /** The group: every instance using the same group (and filter) shares the events. */
  readonly group: string;
  /**
   * Subject pattern(s) within the stream (default: everything in it).
   * Several patterns need `filter_subjects` (nats-server 2.10+, "multi-filter");
   * the caller checks the server and falls back to one consumer per pattern.
   */
  readonly filter?: string | readonly string[];
  readonly description?: string;
}

/**
 * One durable consumer per (group, filter): the group name alone when there
 * is no filter, else the group plus a short hash of the filter. Two
 * subscriptions of one group with different filters must not share (and
 * keep reconfiguring) one consumer.
 */
export function durableName(spec: Pick<ConsumerSpec, "group" | "filter">): string {
  const filters = filtersOf(spec);
  if (filters.length === 0) return spec.group;
  // Sorted, so the same set of events in another order is the same consumer.
  return `${spec.group}_${createHash("sha256").update([...filters].sort().join("\n")).digest("hex").slice(0, 8)}`;
}

function filtersOf(spec: Pick<ConsumerSpec, "filter">): readonly string[] {
  return spec.filter === undefined ? [] : typeof spec.filter === "string" ? [spec.filter] : spec.filter;
}

export function wantedConfig(spec: ConsumerSpec, policy: RetryPolicy, maxAckPending: number): Partial<ConsumerConfig> {
  return {
    durable_name: durableName(spec),
    ack_policy: "explicit",
    deliver_policy: "all",
    ack_wait: policy.ackWaitMs * NS_PER_MS,
    max_deliver: policy.maxDeliveries,
    max_ack_pending: maxAckPending,
    ...filterConfig(filtersOf(spec)),
    description: spec.description ?? `cozebus group ${spec.group}${spec.filter !== undefined ? ` on ${filtersOf(spec).join(", ")}` : ""}`,
  };
}

function filterConfig(filters: readonly string[]): Partial<ConsumerConfig> {
  if (filters.length === 0) return {};
  return filters.length === 1 ? { filter_subject: filters[0]! } : { filter_subjects: [...filters] };
}

/** The consumer's filters as a sorted list, whichever field holds them. */
const filterSet = (c: Partial<ConsumerConfig>): string => [...(c.filter_subjects ?? []), ...(c.filter_subject ? [c.filter_subject] : [])].sort().join(",");

/** nats-server's JSConsumerAlreadyExists: a create (2.10+ create action) found a consumer with another config. */
const CONSUMER_EXISTS = 10148;

/**
 * Creates the durable consumer or reconciles an existing one explicitly:
 * compare, then update what may change, refuse what may not. (nats-server
 * 2.9 silently updates on add, newer servers refuse; neither is relied on.)
 */
export async function ensureConsumer(jsm: JetStreamManager, stream: string, wanted: Partial<ConsumerConfig>): Promise<"created" | "updated" | "unchanged"> {
  const name = wanted.durable_name as string;
  let info: ConsumerInfo | undefined;
  try {
    info = await jsm.consumers.info(stream, name);
  } catch (err) {
    if (apiCode(err) !== JetStreamApiCodes.ConsumerNotFound) throw explain(stream, name, err);
  }
  if (info === undefined) {
    try {
      // nats.js sends the "create" action: nats-server 2.10+ refuses it when another
      // instance created the consumer meanwhile with a different config (older
      // servers silently overwrite it); then reconcile explicitly, as below.
      await jsm.consumers.add(stream, wanted);
    } catch (err) {
      if (apiCode(err) === CONSUMER_EXISTS) return ensureConsumer(jsm, stream, wanted);
      throw explain(stream, name, err);
    }
    return "created";
  }
  const have = info.config as unknown as Record<string, unknown>;
  const want = wanted as unknown as Record<string, unknown>;
  const fixed = (["ack_policy", "deliver_policy"] as const).filter((k) => have[k] !== want[k]);
  if (fixed.length > 0) {
    throw new StreamConfigError(stream, `consumer ${name}: ${fixed.map((k) => `${k} is ${String(have[k])}, ${String(want[k])} wanted`).join("; ")}; delete the consumer to recreate it`);
  }
  const diff: string[] = (["ack_wait", "max_deliver", "max_ack_pending", "description"] as const).filter((k) => want[k] !== undefined && have[k] !== want[k]);
  if (filterSet(info.config) !== filterSet(wanted)) diff.push("filters");
  if (diff.length === 0) return "unchanged";
  try {
    await jsm.consumers.update(stream, name, wanted);
  } catch (err) {
    throw explain(stream, name, err);
  }
  return "updated";
}

function explain(stream: string, consumer: string, err: unknown): Error {
  if (apiCode(err) === JetStreamApiCodes.StreamNotFound) return new StreamConfigError(stream, `does not exist, so consumer ${consumer} cannot be created: provision the stream first`, { cause: err });
  return new StreamConfigError(stream, `consumer ${consumer}: ${describe(err)}`, { cause: err });
}

