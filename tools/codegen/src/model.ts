/** What codegen knows about a domain after reading and validating the schemas. */

/** As in @cozebus/core: what an event's delivery guarantees, on any transport. */
export type QualityOfService = "at-most-once" | "at-least-once";

export interface FieldModel {
  /** Proto name, e.g. `workflow_id`. */
  readonly name: string;
  /** TypeScript property (ts-proto), e.g. `workflowId`. */
  readonly prop: string;
  /** Proto type as written, e.g. `int64`, `string`, `coze.workflow.v1.Trigger`, `repeated string`. */
  readonly type: string;
  readonly description: string;
}

export interface EventModel {
  /** Key in the generated client, e.g. `executionStarted`. */
  readonly key: string;
  /** Full proto name: the ce-type. */
  readonly type: string;
  /** TypeScript name of the ts-proto message. */
  readonly tsName: string;
  /** ts-proto module, relative to src/gen, e.g. `./coze/workflow/v1/workflow.js`. */
  readonly module: string;
  readonly subject: string;
  /** Template fields in template order. */
  readonly subjectFields: readonly FieldModel[];
  /**
   * The quality of service the schema declares: `qos`, or for a schema still
   * on the deprecated `delivery` option, its mapping (core -> at-most-once,
   * jetstream -> at-least-once).
   */
  readonly qos: QualityOfService;
  readonly description: string;
  readonly fields: readonly FieldModel[];
  readonly file: string;
}

export interface OperationModel {
  readonly key: string;
  /** `coze.workflow.v1.WorkflowService.CancelExecution`. */
  readonly method: string;
  readonly subject: string;
  readonly subjectFields: readonly FieldModel[];
  readonly timeoutMs: number;
  readonly requestType: string;
  readonly replyType: string;
  readonly requestTs: string;
  readonly replyTs: string;
  /** The request message's fields (for tools that build requests from JSON). */
  readonly requestFields: readonly FieldModel[];
  readonly module: string;
  readonly description: string;
  readonly file: string;
}

export interface DomainModel {
  readonly name: string;
  readonly protoPackage: string;
  readonly files: readonly string[];
  readonly events: readonly EventModel[];
  readonly operations: readonly OperationModel[];
}

/** A schema problem: where, what, and what to change. */
export interface SchemaProblem {
  readonly file: string;
  readonly element: string;
  readonly message: string;
}

export function formatProblem(p: SchemaProblem): string {
  return `${p.file}: ${p.element}: ${p.message}`;
}

/** A schema warning (the schema builds): one line, for stderr. */
export function formatWarning(p: SchemaProblem): string {
  return `WARNING: ${formatProblem(p)}`;
}
