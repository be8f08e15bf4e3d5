import { readFileSync } from "node:fs";
import { createFileRegistry, fromBinary, fromJsonString, getOption, toBinary, toJson, type DescExtension, type FileRegistry, type JsonValue } from "@bufbuild/protobuf";
import type { TokenValue } from "@cozebus/nats";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { eventByType } from "./catalog.js";
import { usageError } from "./errors.js";

/** An event as a descriptor set declares it (the coze.eventbus.v1.event option). */
export interface DescribedEvent {
  readonly type: string;
  readonly subject: string;
  readonly delivery: "core" | "jetstream";
}

/**
 * Events from a FileDescriptorSet (`npm run codegen` writes one to
 * schemas/cozebus.binpb), read by reflection: the CLI can decode, and
 * subscribe to, events of a schema newer than the generated code it was built
 * with.
 */
export class SchemaSet {
  readonly #registry: FileRegistry;
  readonly #eventOption: DescExtension | undefined;

  private constructor(registry: FileRegistry) {
    this.#registry = registry;
    const ext = registry.getExtension("coze.eventbus.v1.event");
    this.#eventOption = ext;
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

  /** The event by full proto name or message name, when the set declares it as an event. */
  findEvent(ref: string): DescribedEvent | undefined {
    for (const file of this.#registry.files) {
      for (const message of file.messages) {
        if (message.typeName !== ref && message.name !== ref) continue;
        const option = this.#eventOption ? getOption(message, this.#eventOption) : undefined;
        const o = option as { subject?: string; delivery?: number } | undefined;
        if (o?.subject === undefined || o.subject === "") return undefined;
        return { type: message.typeName, subject: o.subject, delivery: o.delivery === 1 ? "core" : "jetstream" };
      }
    }
    return undefined;
  }

  /**
   * Encodes an event from proto3 JSON, strictly (unknown fields and wrong
   * types are usage errors naming the field), and returns the values of its
   * singular string and integer fields by proto name, to fill the subject.
   */
  encode(event: DescribedEvent, json: string): { readonly data: Uint8Array; readonly values: Record<string, TokenValue> } {
    const desc = this.#registry.getMessage(event.type);
    if (desc === undefined) throw usageError(`the descriptor set declares ${event.type} but not its message`);
    let message;
    try {
      message = fromJsonString(desc, json, { registry: this.#registry });
    } catch (err) {
      throw usageError(`${event.type}: ${(err as Error).message}`);
    }
    const values: Record<string, TokenValue> = {};
    const fields = message as unknown as Record<string, unknown>;
    for (const f of desc.fields) {
      const v = fields[f.localName];
      if (f.fieldKind === "scalar" && (typeof v === "string" || typeof v === "number" || typeof v === "bigint")) values[f.name] = v;
    }
    return { data: toBinary(desc, message), values };
  }

  /** Decodes to proto3 JSON; undefined when the set does not know the type. Throws on undecodable bytes. */
  decode(type: string, data: Uint8Array): JsonValue | undefined {
    const desc = this.#registry.getMessage(type);
    if (desc === undefined) return undefined;
    return toJson(desc, fromBinary(desc, data), { registry: this.#registry });
  }
}

/**
 * Decodes an event's bytes to proto3 JSON: from the descriptor set when one
 * was given (it may be newer than this build), else from the generated code.
 * undefined: the type is unknown to both. Throws on undecodable bytes.
 */
export function decodeEventJson(type: string, data: Uint8Array, schemas: SchemaSet | undefined): unknown {
  const fromSet = schemas?.decode(type, data);
  if (fromSet !== undefined) return fromSet;
  const entry = eventByType(type);
  return entry === undefined ? undefined : entry.def.codec.toJSON(entry.def.codec.decode(data));
}
