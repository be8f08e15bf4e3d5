import { ServiceError, describe } from "../errors.js";
import type { Transport, TransportSubscription } from "../port/transport.js";
import { SubjectTemplate, checkToken } from "../subject/template.js";
import { contextOf, type EventContext } from "./context.js";
import type { MessageOf, OperationDef, PartialOf } from "./define.js";

export interface RequestCallOptions {
  /** Overrides the schema's default timeout. */
  readonly timeoutMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly traceparent?: string;
}

export interface ServeOptions {
  /** Group: instances share the requests (default: the operation's subject template). */
  readonly group?: string;
  readonly concurrency?: number;
}

/**
 * One typed request/reply operation. The requester gets the decoded reply,
 * or a typed error: NoRespondersError, RequestTimeoutError, or RemoteError
 * carrying the serving side's failure (400 for a request it could not
 * decode, the ServiceError's status, else 500). Needs the transport's
 * `requestReply` (NATS); elsewhere it is refused with FeatureUnavailableError.
 */
export class OperationClient<O extends OperationDef> {
  readonly template: SubjectTemplate;
  readonly #transport: Transport;

  constructor(
    transport: Transport,
    readonly domain: string,
    readonly def: O,
  ) {
    this.#transport = transport;
    this.template = SubjectTemplate.parse(def.subject);
  }

  async request(request: PartialOf<O["request"]>, options: RequestCallOptions = {}): Promise<MessageOf<O["reply"]>> {
    const message = this.def.request.fromPartial(request) as Record<string, unknown>;
    const fields: Record<string, string> = {};
    for (const [field, prop] of Object.entries(this.def.fields)) fields[field] = checkToken(field, message[prop], this.def.subject);
    const reply = await this.#transport.request({
      address: { domain: this.domain, template: this.template, fields },
      data: this.def.request.encode(message).finish(),
      attributes: {
        type: this.def.requestType,
        ...(options.headers !== undefined ? { headers: options.headers } : {}),
        ...(options.traceparent !== undefined ? { traceparent: options.traceparent } : {}),
      },
      timeoutMs: options.timeoutMs ?? this.def.timeoutMs,
    });
    return this.def.reply.decode(reply.data) as MessageOf<O["reply"]>;
  }

  /** Serves the operation for every value of its subject fields. */
  serve(handler: (request: MessageOf<O["request"]>, ctx: EventContext) => PartialOf<O["reply"]> | Promise<PartialOf<O["reply"]>>, options: ServeOptions = {}): Promise<TransportSubscription> {
    const root = this.#transport.subjectRoot;
    return this.#transport.serve(
      { domain: this.domain, template: this.template, group: options.group ?? this.def.subject, ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}) },
      async (d) => {
        let request: MessageOf<O["request"]>;
        try {
          request = this.def.request.decode(d.data) as MessageOf<O["request"]>;
        } catch (err) {
          throw new ServiceError(400, `cannot decode ${this.def.requestType}: ${describe(err)}`);
        }
        const reply = await handler(request, contextOf(d, this.template, root, this.def.requestType));
        return { data: this.def.reply.encode(this.def.reply.fromPartial(reply)).finish(), headers: { "ce-type": this.def.replyType } };
      },
    );
  }
}
