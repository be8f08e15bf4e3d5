import { Match, nuid, type MsgHdrs } from "@nats-io/transport-node";
import { OutgoingHeaders } from "./outgoing-headers.js";
import { SubjectError } from "../errors.js";

/**
 * Header names of the wire contract: CloudEvents 1.0, NATS protocol binding,
 * binary content mode. Other languages read these, so they never change.
 */
export const HEADER = {
  specversion: "ce-specversion",
  id: "ce-id",
  type: "ce-type",
  source: "ce-source",
  time: "ce-time",
  contentType: "content-type",
  traceparent: "traceparent",
  /** W3C trace context's vendor part; sent only with a traceparent. */
  tracestate: "tracestate",
  /** JetStream de-duplication key: always equal to ce-id, so every event is deduplicated on its own identity. */
  msgId: "Nats-Msg-Id",
} as const;

export const PROTOBUF = "application/protobuf";

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const RESERVED = new Set(Object.values(HEADER).map((h) => h.toLowerCase()));

/** What a publisher says about one event; everything but `type` has a default. */
export interface EventAttributes {
  /** Full proto name of the payload, e.g. `coze.workflow.v1.WorkflowExecutionStarted`. */
  readonly type: string;
  /** Unique id; generated when omitted. Reuse one only to retry the same event. */
  readonly id?: string;
  readonly source?: string;
  readonly time?: Date;
  readonly contentType?: string;
  readonly traceparent?: string;
  readonly tracestate?: string;
  /** Extra application headers; names of the wire contract above are reserved. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The event attributes read back from a received message. */
export interface EventMeta {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  /** Undefined when the sender gave no (or an unparsable) `ce-time`. */
  readonly time: Date | undefined;
  readonly contentType: string;
  readonly traceparent: string | undefined;
}

export function newEventId(): string {
  return nuid.next();
}

/** A header value must stay on one line: a CR or LF would let it forge further headers. */
const VALUE = /^[^\r\n]*$/;
const ID = /^[\x21-\x7e]+$/;

function checkValue(name: string, value: string): string {
  if (typeof value !== "string" || !VALUE.test(value)) throw new SubjectError(`event ${name} ${JSON.stringify(value)} cannot contain CR or LF`);
  return value;
}

/**
 * Builds the headers of one outgoing event. This is on every publish's hot
 * path: values are validated here once and go into a flat header block
 * encoded once (see OutgoingHeaders); the client's own header map costs more
 * than the rest of a publish.
 */
export function eventHeaders(attrs: EventAttributes, defaultSource: string, traceparent: string | undefined): { headers: MsgHdrs; id: string } {
  if (typeof attrs.type !== "string" || attrs.type === "") throw new SubjectError("an event needs a non-empty type (its full proto name)");
  const id = attrs.id ?? newEventId();
  if (attrs.id !== undefined && !ID.test(id)) throw new SubjectError(`event id ${JSON.stringify(id)} must be printable ASCII without spaces`);
  const h = new OutgoingHeaders();
  if (attrs.headers) {
    for (const [k, v] of Object.entries(attrs.headers)) {
      if (RESERVED.has(k.toLowerCase())) throw new SubjectError(`header "${k}" is set by cozebus itself; use the matching event attribute instead`);
      h.append(k, v); // application headers take full validation
    }
  }
  h.add(HEADER.specversion, "1.0");
  h.add(HEADER.id, id);
  h.add(HEADER.msgId, id);
  h.add(HEADER.type, checkValue("type", attrs.type));
  h.add(HEADER.source, attrs.source === undefined ? defaultSource : checkValue("source", attrs.source));
  h.add(HEADER.time, (attrs.time ?? new Date()).toISOString());
  h.add(HEADER.contentType, attrs.contentType === undefined ? PROTOBUF : checkValue("content type", attrs.contentType));
  const tp = attrs.traceparent ?? traceparent;
  // A malformed traceparent would break every tracer downstream; drop it rather than forward it.
  if (tp !== undefined && TRACEPARENT.test(tp)) {
    h.add(HEADER.traceparent, tp);
    // tracestate means nothing without its traceparent (W3C trace context); a CR/LF in it is refused like any header value.
    if (attrs.tracestate !== undefined && attrs.tracestate !== "") h.add(HEADER.tracestate, checkValue("tracestate", attrs.tracestate));
  }
  return { headers: h, id };
}

/** Reads CloudEvents attributes; undefined when the message is not a cozebus/CloudEvents event. */
const META_KEYS = new Map<string, number>([HEADER.id, HEADER.type, HEADER.time, HEADER.source, HEADER.contentType, HEADER.traceparent].map((k, i) => [k.toLowerCase(), i]));

export function readEventMeta(h: MsgHdrs | undefined): EventMeta | undefined {
  if (h === undefined) return undefined;
  // One pass over the headers instead of a case-insensitive get() per attribute: each get() copies
  // and lower-cases every key, which was a fifth of the consume path's handling time (CPU profile,
  // issue 15). Same answer: the first key matching regardless of case, its first value, "" as absent.
  const found: Array<string | undefined> = [undefined, undefined, undefined, undefined, undefined, undefined];
  let seen = 0;
  for (const [k, values] of h) {
    const i = META_KEYS.get(k.toLowerCase());
    if (i === undefined || seen & (1 << i)) continue;
    seen |= 1 << i;
    const v = values[0];
    found[i] = v === "" ? undefined : v;
  }
  const [id, type, t, source, contentType, traceparent] = found;
  if (id === undefined || type === undefined) return undefined;
  const time = t === undefined ? undefined : new Date(t);
  return {
    id,
    type,
    source: source ?? "",
    time: time === undefined || Number.isNaN(time.getTime()) ? undefined : time,
    contentType: contentType ?? PROTOBUF,
    traceparent,
  };
}

/** Plain read-only view of headers, so handlers do not depend on the client library's types. */
export interface Headers {
  /** First value of a header, matched case-insensitively. */
  get(name: string): string | undefined;
  has(name: string): boolean;
  /** Every header name with all its values. */
  entries(): Array<[string, string[]]>;
}

const EMPTY: Headers = { get: () => undefined, has: () => false, entries: () => [] };

export function viewHeaders(h: MsgHdrs | undefined): Headers {
  if (h === undefined) return EMPTY;
  return {
    get: (name) => {
      const v = h.values(name, Match.IgnoreCase);
      return v.length === 0 ? undefined : v[0];
    },
    has: (name) => h.has(name, Match.IgnoreCase),
    entries: () => [...h].map(([k, v]) => [k, [...v]]),
  };
}
