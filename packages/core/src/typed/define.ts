/**
 * The shapes generated code fills in. Codegen writes one `defineDomain({...})`
 * per domain; everything that happens at run time is in this folder, so
 * generated files stay declarations only.
 */

/** A ts-proto message codec (the generated `const Foo = { encode, decode, fromPartial, ... }`). */
export interface Codec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- ts-proto's DeepPartial<T>; only used to infer the parameter type
  fromPartial(object: any): T;
  toJSON(message: T): unknown;
  fromJSON(object: unknown): T;
}

/** The message type a codec handles. */
export type MessageOf<C> = C extends Codec<infer T> ? T : never;
/** What `publish` accepts: ts-proto's DeepPartial of the message, so new schema fields never break callers. */
export type PartialOf<C> = C extends { fromPartial(object: infer P): unknown } ? P : never;

import type { QualityOfService } from "../port/transport.js";

export interface EventDef<C extends Codec<unknown> = Codec<unknown>> {
  /** Full proto name: the CloudEvents `ce-type`. */
  readonly type: string;
  /** Subject template, e.g. `coze.workflow.{workflow_id}.started`. */
  readonly subject: string;
  /** Template field (proto name) -> message property (TypeScript name). */
  readonly fields: Readonly<Record<string, string>>;
  /** At most once (NATS core) or at least once (JetStream, Pulsar); a transport may give more (NATS_USE_JETSTREAM). */
  readonly qos: QualityOfService;
  readonly codec: C;
  /** The message's proto comment. */
  readonly description?: string;
}

export interface OperationDef<Req extends Codec<unknown> = Codec<unknown>, Rep extends Codec<unknown> = Codec<unknown>> {
  readonly subject: string;
  readonly fields: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly requestType: string;
  readonly replyType: string;
  readonly request: Req;
  readonly reply: Rep;
  readonly description?: string;
}

export interface DomainDef {
  /** `workflow`, `agent`, `knowledge`: the second subject token and the stream's name. */
  readonly name: string;
  readonly events: Readonly<Record<string, EventDef>>;
  readonly operations: Readonly<Record<string, OperationDef>>;
}

/** Keeps the literal types of a generated domain, so clients are fully typed. */
export function defineDomain<const D extends DomainDef>(domain: D): D {
  return domain;
}
