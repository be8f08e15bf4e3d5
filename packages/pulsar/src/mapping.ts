/**
 * How schema addresses become Pulsar names. One topic per event type, so a
 * subscription takes exactly the events it names and a rolling upgrade's new
 * event type lands on a new topic (see docs/operations.md, "Pulsar").
 */
import type { EventAddress, OutgoingAttributes, SubjectTemplate } from "@cozebus/core/transport";

/**
 * The topic's local name for a template under `root`.
 *
 * The usual shape, `<root>.<domain>.{field}.<event...>` (exactly one field,
 * right after the domain token), drops the field:
 * `coze.workflow.{workflow_id}.started` -> `coze.workflow.started`.
 * Any other shape (no field, more fields, a field elsewhere) keeps its
 * literals and adds a last token `=` + the shape, one letter per token after
 * the root (L literal, F field): `coze.workflow.started.{b}` ->
 * `coze.workflow.started.=LLF`. A literal token never starts with `=`
 * (templates allow only [A-Za-z0-9_-]), so a topic name says which rule made
 * it, and two different templates never share a topic: the mapping is
 * injective.
 */
export function topicLocalName(template: SubjectTemplate, root: string): string {
  const parts = template.parts;
  const literals = parts.flatMap((p) => ("literal" in p ? [p.literal] : []));
  const usual = parts.length >= 3 && "literal" in parts[0]! && "field" in parts[1]! && parts.slice(2).every((p) => "literal" in p);
  if (usual) return [root, ...literals].join(".");
  const shape = parts.map((p) => ("literal" in p ? "L" : "F")).join("");
  return [root, ...literals, `=${shape}`].join(".");
}

export interface Names {
  readonly tenant: string;
  readonly namespace: string;
  readonly root: string;
}

export function fullTopic(n: Names, local: string): string {
  return `persistent://${n.tenant}/${n.namespace}/${local}`;
}

/** The domain's dead-letter topic: `<root>.<domain>-DLQ`; never an event topic (those have at least two tokens after the root). */
export function deadLetterLocalName(root: string, domain: string): string {
  return `${root}.${domain}-DLQ`;
}

/** The subscription on the dead-letter topic that keeps dead letters (Pulsar keeps nothing without one). */
export const DLQ_SUBSCRIPTION = "cozebus-dlq";

/** Event topics of a domain start with this (used by `events: "domain"` to find them). */
export function domainTopicPrefix(root: string, domain: string): string {
  return `${root}.${domain}.`;
}

/**
 * The message key: the concrete subject's field values, in template order,
 * joined by `.` (`wf_1`, or `ws_1.wf_1`). Key_Shared subscriptions keep one
 * key's events in order, which is one entity's events, because a topic is
 * one template.
 */
export function messageKey(template: SubjectTemplate, fields: Readonly<Record<string, string>>): string {
  return template.fields.map((f) => fields[f] ?? "").join(".");
}

/** Property names of the wire contract (CloudEvents binary mode, Kafka/AMQP-like `ce-` names). */
export const PROP = {
  id: "ce-id",
  type: "ce-type",
  source: "ce-source",
  time: "ce-time",
  specversion: "ce-specversion",
  subject: "ce-subject",
  contentType: "content-type",
  traceparent: "traceparent",
  tracestate: "tracestate",
  /** Epoch ms an event asked not to be delivered before; consumers hold it until then (the broker's tick may deliver up to a second early). */
  deliverAt: "cozebus-deliver-at",
} as const;

const RESERVED = new Set<string>(Object.values(PROP));
export const DLQ_PREFIX = "cozebus-dlq-";

export function isReserved(name: string): boolean {
  const n = name.toLowerCase();
  return RESERVED.has(n) || n.startsWith(DLQ_PREFIX);
}

export const DEFAULT_SOURCE = "cozebus";
export const PROTOBUF = "application/protobuf";

/** The properties of an outgoing event: its application headers, then the wire contract's (which win). */
export function eventProperties(subject: string, a: OutgoingAttributes, id: string): Record<string, string> {
  const props: Record<string, string> = {};
  for (const [k, v] of Object.entries(a.headers ?? {})) if (!isReserved(k)) props[k.toLowerCase()] = v;
  props[PROP.specversion] = "1.0";
  props[PROP.id] = id;
  props[PROP.type] = a.type;
  props[PROP.source] = a.source ?? DEFAULT_SOURCE;
  props[PROP.time] = (a.time ?? new Date()).toISOString();
  props[PROP.subject] = subject;
  props[PROP.contentType] = a.contentType ?? PROTOBUF;
  if (a.traceparent !== undefined) props[PROP.traceparent] = a.traceparent;
  if (a.tracestate !== undefined) props[PROP.tracestate] = a.tracestate;
  return props;
}

export function subjectOf(address: EventAddress, root: string): string {
  return address.template.build(address.fields, root);
}
