import { readFileSync } from "node:fs";
import {
  createFileRegistry,
  fromBinary,
  fromJson,
  getOption,
  ScalarType,
  toBinary,
  toJson,
  type DescExtension,
  type DescMessage,
  type FileRegistry,
  type JsonValue,
  type Message,
} from "@bufbuild/protobuf";
import type { Codec, EventDef } from "@cozebus/nats";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { eventByType } from "./catalog.js";
import { usageError } from "./errors.js";

type QualityOfService = EventDef["qos"];

/** `qos` (coze.eventbus.v1.QualityOfService) and the deprecated `delivery` (coze.eventbus.v1.Delivery) by value. */
const QOS: Record<number, QualityOfService | undefined> = { 1: "at-most-once", 2: "at-least-once" };
const DELIVERY: Record<number, QualityOfService | undefined> = { 1: "at-most-once", 2: "at-least-once" }; // DELIVERY_CORE, DELIVERY_JETSTREAM

/**
 * An event's quality of service from its options: `qos`, else the deprecated
 * `delivery` (a descriptor set built from schemas older than qos, or with an
 * options.proto that has no qos field), else at least once, the safe default
 * (codegen refuses an event with neither).
 */
function qosOf(options: { readonly qos?: number; readonly delivery?: number }): QualityOfService {
  return QOS[options.qos ?? 0] ?? DELIVERY[options.delivery ?? 0] ?? "at-least-once";
}

/**
 * Events from a FileDescriptorSet (`npm run codegen` writes one to
 * schemas/cozebus.binpb), read by reflection into the same `EventDef` shape
 * the generated packages export: the CLI publishes, subscribes to and decodes
 * events of a schema newer than the generated code it was built with, through
 * the same EventClient as every other event.
 */
export class SchemaSet {
  readonly #registry: FileRegistry;
  readonly #eventOption: DescExtension | undefined;

  private constructor(registry: FileRegistry) {
    this.#registry = registry;
    this.#eventOption = registry.getExtension("coze.eventbus.v1.event");
  }

  /** Reads a descriptor set; a missing or malformed file is a usage error naming the file. */
  static load(file: string): SchemaSet {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (err) {
      throw usageError(`--schemas ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); npm run codegen writes the descriptor set to schemas/cozebus.binpb`);
    }
    try {
      return new SchemaSet(createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes)));
    } catch (err) {
      throw usageError(`--schemas ${file}: not a complete FileDescriptorSet (${(err as Error).message}); build one with "buf build -o ${file}" or npm run codegen`);
    }
  }

  /** The event by full proto name or message name, when the set declares it as an event (it carries the event option). */
  eventDef(ref: string): EventDef | undefined {
    for (const file of this.#registry.files) {
      for (const message of file.messages) {
        if (message.typeName !== ref && message.name !== ref) continue;
        const o = (this.#eventOption ? getOption(message, this.#eventOption) : undefined) as { subject?: string; qos?: number; delivery?: number } | undefined;
        if (o?.subject === undefined || o.subject === "") return undefined;
        // Template field (proto name) -> message property, as codegen writes it.
        const fields: Record<string, string> = {};
        for (const [, token] of o.subject.matchAll(/\{(\w+)\}/g)) {
          const f = message.fields.find((x) => x.name === token);
          if (f !== undefined) fields[token!] = f.localName;
        }
        return { type: message.typeName, subject: o.subject, fields, qos: qosOf(o), codec: this.#codec(message) };
      }
    }
    return undefined;
  }

  /** Every message of the set that carries the event option, with its fields (proto name and type), for the console's catalogue. */
  events(): Array<{ readonly def: EventDef; readonly fields: ReadonlyArray<{ readonly name: string; readonly type: string }> }> {
    const out = [];
    for (const file of this.#registry.files) {
      for (const message of file.messages) {
        const def = this.eventDef(message.typeName);
        if (def === undefined) continue;
        const fields = message.fields.map((f) => ({ name: f.name, type: f.fieldKind === "scalar" ? ScalarType[f.scalar].toLowerCase() : f.fieldKind === "message" ? f.message.typeName : f.fieldKind === "enum" ? f.enum.typeName : f.fieldKind }));
        out.push({ def, fields });
      }
    }
    return out;
  }

  /** A codec over reflection: binary and strict proto3 JSON (unknown fields and wrong types throw, naming the field). */
  #codec(desc: DescMessage): Codec<Message> {
    const registry = this.#registry;
    return {
      encode: (m) => ({ finish: () => toBinary(desc, m) }),
      decode: (bytes) => fromBinary(desc, bytes),
      fromPartial: (m: Message) => m, // messages here only come from fromJSON or decode
      toJSON: (m) => toJson(desc, m, { registry }),
      fromJSON: (json) => fromJson(desc, json as JsonValue, { registry }),
    };
  }
}

/**
 * Decodes an event's bytes to proto3 JSON: from the descriptor set when one
 * was given (it may be newer than this build), else from the generated code.
 * undefined: the type is unknown to both. Throws on undecodable bytes.
 */
export function decodeEventJson(type: string, data: Uint8Array, schemas: SchemaSet | undefined): unknown {
  const def = schemas?.eventDef(type) ?? eventByType(type)?.def;
  return def === undefined ? undefined : def.codec.toJSON(def.codec.decode(data));
}
