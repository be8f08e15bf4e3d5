import type { Bus } from "../connection/bus.js";
import { ServiceError, describe } from "../errors.js";
import type { InboundMessage } from "../messaging/inbound.js";
import { SubjectTemplate, type TokenValue } from "../messaging/subject.js";
import type { Subscription } from "../messaging/subscription.js";
import type { MessageOf, OperationDef, PartialOf } from "@cozebus/core";
import { contextOf, type EventContext } from "./event-client.js";

export interface RequestCallOptions {
  /** Overrides the schema's default timeout. */
  readonly timeoutMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly traceparent?: string;
}

export interface ServeOptions {
  /** Queue group: instances share the requests (default: the operation's subject template). */
  readonly group?: string;
  readonly concurrency?: number;
}

/**
 * One typed request/reply operation. The requester gets the decoded reply,
 * or a typed error: NoRespondersError, RequestTimeoutError, or RemoteError
 * carrying the serving side's failure (400 for a request it could not
 * decode, the ServiceError's status, else 500).
 */
export class OperationClient<O extends OperationDef> {
  readonly template: SubjectTemplate;

  constructor(
    private readonly bus: Bus,
    readonly def: O,
  ) {
    this.template = SubjectTemplate.parse(def.subject);
  }

  async request(request: PartialOf<O["request"]>, options: RequestCallOptions = {}): Promise<MessageOf<O["reply"]>> {
    const message = this.def.request.fromPartial(request) as Record<string, unknown>;
    const values: Record<string, TokenValue | undefined> = {};
    for (const [field, prop] of Object.entries(this.def.fields)) values[field] = message[prop] as TokenValue | undefined;
    const subject = this.bus.subject(this.template, values);
    const reply = await this.bus.request(subject, this.def.request.encode(message).finish(), {
      type: this.def.requestType,
      timeoutMs: options.timeoutMs ?? this.def.timeoutMs,
      ...(options.headers !== undefined ? { headers: options.headers } : {}),
      ...(options.traceparent !== undefined ? { traceparent: options.traceparent } : {}),
    });
    return this.def.reply.decode(reply.data) as MessageOf<O["reply"]>;
  }

  /** Serves the operation for every value of its subject fields. */
  async serve(
    handler: (request: MessageOf<O["request"]>, ctx: EventContext) => PartialOf<O["reply"]> | Promise<PartialOf<O["reply"]>>,
    options: ServeOptions = {},
  ): Promise<Subscription> {
    const prefix = this.bus.prefix;
    return this.bus.serve(
      this.bus.pattern(this.template),
      async (m: InboundMessage) => {
        let request: MessageOf<O["request"]>;
        try {
          request = this.def.request.decode(m.data) as MessageOf<O["request"]>;
        } catch (err) {
          throw new ServiceError(400, `cannot decode ${this.def.requestType}: ${describe(err)}`);
        }
        const reply = await handler(request, contextOf(m, this.template, prefix, 1, this.def.requestType));
        return { data: this.def.reply.encode(this.def.reply.fromPartial(reply)).finish(), headers: { "ce-type": this.def.replyType } };
      },
      {
        queue: options.group ?? this.def.subject,
        ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
      },
    );
  }
}
