import { DecodeError, describe } from "../errors.js";
import type { Delivery, Headers } from "../port/transport.js";
import type { SubjectTemplate } from "../subject/template.js";
import type { InboxClaim } from "../inbox/store.js";
import type { Codec, EventDef, MessageOf } from "./define.js";
import { claimOf } from "./settle.js";

/** What a handler learns besides the event itself. */
export interface EventContext {
  readonly subject: string;
  /** The event's id (ce-id): the key for idempotent handlers. */
  readonly id: string;
  readonly type: string;
  readonly time: Date | undefined;
  readonly headers: Headers;
  /** 1 on first delivery (at-most-once events: always 1). */
  readonly attempt: number;
  /** The subject's template fields, e.g. `{ workflow_id: "wf_1" }`. */
  readonly fields: Readonly<Record<string, string>>;
  /**
   * With `subscribe(..., { idempotency })`: the inbox claim this run holds.
   * Completing it in the handler's own database transaction
   * (`PostgresInboxStore.completeIn(tx, ctx.idempotency)`) makes the
   * handler's writes and the "done" mark commit together.
   */
  readonly idempotency?: InboxClaim;
}

export function contextOf(d: Delivery, template: SubjectTemplate, root: string, fallbackType: string): EventContext {
  const e = d.event;
  const claim = claimOf(d);
  return {
    subject: d.subject,
    id: e?.id ?? "",
    type: e?.type ?? fallbackType,
    time: e?.time,
    headers: d.headers,
    attempt: d.attempt,
    fields: template.match(d.subject, root) ?? {},
    ...(claim !== undefined ? { idempotency: claim } : {}),
  };
}

/** Decodes one delivery; undecodable bytes become a DecodeError (dead letter / error hook), never a handler call. */
export function decodeEvent<C extends Codec<unknown>>(def: EventDef<C>, d: Pick<Delivery, "subject" | "data">): MessageOf<C> {
  try {
    return def.codec.decode(d.data) as MessageOf<C>;
  } catch (err) {
    throw new DecodeError(d.subject, `${def.type}: ${describe(err)}`, { cause: err });
  }
}
