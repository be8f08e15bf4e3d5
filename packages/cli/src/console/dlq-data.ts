import type { DeadLetterReason } from "@cozebus/core";
import { decodeEventJson, type SchemaSet } from "../schemas.js";
import type { ConsoleContext } from "./context.js";
import { HttpError } from "./http.js";
import type { Letter } from "./source.js";

export const REASONS: readonly DeadLetterReason[] = ["non-retryable", "undecodable", "max-deliveries", "abandoned", "unknown-event"];

/** How many dead letters one view looks through (each is one read: of the DLQ stream, or one peek of a dead-letter topic). */
export const SCAN_LIMIT = 1000;

export interface DlqFilter {
  readonly reason: DeadLetterReason | undefined;
  /** A full proto type or a message name. */
  readonly type: string | undefined;
  readonly since: Date | undefined;
  readonly until: Date | undefined;
}

/** A time from the form: ISO 8601, or a datetime-local value without a zone, read as UTC (the page says so). */
function parseTime(name: string, v: string | null): Date | undefined {
  if (v === null || v.trim() === "") return undefined;
  const text = /Z|[+-]\d\d:?\d\d$/.test(v) ? v : `${v}Z`;
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) throw new HttpError(400, `${name} must be a time such as 2026-12-02T05:30 (UTC) or an ISO 8601 timestamp, got ${JSON.stringify(v)}`);
  return d;
}

export function parseFilter(p: URLSearchParams): DlqFilter {
  const reason = p.get("reason") || undefined;
  if (reason !== undefined && !REASONS.includes(reason as DeadLetterReason)) throw new HttpError(400, `reason must be one of ${REASONS.join(", ")}, got ${JSON.stringify(reason)}`);
  return { reason: reason as DeadLetterReason | undefined, type: p.get("type")?.trim() || undefined, since: parseTime("since", p.get("since")), until: parseTime("until", p.get("until")) };
}

/** The filter as query parameters, to carry it from the list to the confirmation and back. */
export function filterParams(f: DlqFilter): URLSearchParams {
  const p = new URLSearchParams();
  if (f.reason) p.set("reason", f.reason);
  if (f.type) p.set("type", f.type);
  if (f.since) p.set("since", f.since.toISOString());
  if (f.until) p.set("until", f.until.toISOString());
  return p;
}

export const isFiltered = (f: DlqFilter): boolean => f.reason !== undefined || f.type !== undefined || f.since !== undefined || f.until !== undefined;

function matches(d: Letter, f: DlqFilter): boolean {
  if (f.type !== undefined && d.eventType !== f.type && d.eventType?.slice(d.eventType.lastIndexOf(".") + 1) !== f.type) return false;
  // A dead letter without a time (dead-lettered by the broker itself, on Pulsar) matches no time filter.
  if (f.since !== undefined && (d.time === undefined || d.time < f.since)) return false;
  if (f.until !== undefined && (d.time === undefined || d.time > f.until)) return false;
  return true;
}

/** The dead letters matching a filter, oldest first, among the first SCAN_LIMIT kept. */
export async function findDeadLetters(ctx: ConsoleContext, f: DlqFilter): Promise<{ letters: Letter[]; stored: number; where: string }> {
  const dlq = ctx.source.deadLetters;
  const letters = (await dlq.list({ limit: SCAN_LIMIT, reason: f.reason })).filter((d) => matches(d, f));
  return { letters, stored: await dlq.count(), where: dlq.where };
}

/** The payload as proto3 JSON, or why it cannot be shown (being undecodable is often why it is a dead letter). */
export function decodeLetter(d: Letter, schemas: SchemaSet | undefined): { data: unknown } | { error: string } {
  if (d.eventType === undefined) return { error: "no ce-type header: not a cozebus event" };
  try {
    const data = decodeEventJson(d.eventType, d.data, schemas);
    if (data === undefined) return { error: `unknown event type ${d.eventType}${schemas ? "" : " (a newer schema? start the console with --schemas <descriptor set>)"}` };
    return { data };
  } catch (err) {
    return { error: `undecodable ${d.eventType}: ${(err as Error).message}` };
  }
}
