import type { Codec, EventDef, OperationDef } from "@cozebus/nats";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { DOMAINS } from "./domains.js";

const require = createRequire(import.meta.url);

/** A field as the catalogue describes it (name, TypeScript property, proto type). */
export interface CatalogField {
  readonly name: string;
  readonly prop: string;
  readonly type: string;
  readonly description: string;
}

export interface EventEntry {
  readonly kind: "event";
  readonly domain: string;
  readonly package: string;
  readonly name: string;
  readonly def: EventDef;
  readonly fields: readonly CatalogField[];
}

export interface OperationEntry {
  readonly kind: "operation";
  readonly domain: string;
  readonly package: string;
  readonly name: string;
  readonly def: OperationDef;
  readonly requestFields: readonly CatalogField[];
}

interface CatalogJson {
  readonly package: string;
  readonly events: ReadonlyArray<{ readonly type: string; readonly fields: readonly CatalogField[] }>;
  readonly operations: ReadonlyArray<{ readonly name: string; readonly requestFields: readonly CatalogField[] }>;
}

function load(): { events: EventEntry[]; operations: OperationEntry[] } {
  const events: EventEntry[] = [];
  const operations: OperationEntry[] = [];
  for (const { def, pkg } of DOMAINS) {
    const catalog = JSON.parse(readFileSync(require.resolve(`${pkg}/catalog.json`), "utf8")) as CatalogJson;
    for (const [name, e] of Object.entries(def.events)) {
      events.push({ kind: "event", domain: def.name, package: pkg, name, def: e, fields: catalog.events.find((c) => c.type === e.type)?.fields ?? [] });
    }
    for (const [name, o] of Object.entries(def.operations)) {
      operations.push({ kind: "operation", domain: def.name, package: pkg, name, def: o, requestFields: catalog.operations.find((c) => c.name === name)?.requestFields ?? [] });
    }
  }
  return { events, operations };
}

export const catalog = load();

const short = (type: string): string => type.slice(type.lastIndexOf(".") + 1);

/**
 * Finds an event by its full proto name (`coze.workflow.v1.WorkflowExecutionStarted`),
 * its message name (`WorkflowExecutionStarted`) or `<domain>.<name>` (`workflow.executionStarted`).
 */
export function findEvent(ref: string): EventEntry | undefined {
  return catalog.events.find((e) => e.def.type === ref || short(e.def.type) === ref || `${e.domain}.${e.name}` === ref);
}

/** Finds an operation by method (`coze.workflow.v1.WorkflowService.GetExecutionStatus`), `<domain>.<name>` or method name. */
export function findOperation(ref: string): OperationEntry | undefined {
  return catalog.operations.find(
    (o) => `${o.domain}.${o.name}` === ref || o.def.requestType === ref || ref.endsWith(`.${o.name.charAt(0).toUpperCase()}${o.name.slice(1)}`) || o.name === ref,
  );
}

export function eventByType(type: string): EventEntry | undefined {
  return catalog.events.find((e) => e.def.type === type);
}

export type AnyCodec = Codec<unknown>;
