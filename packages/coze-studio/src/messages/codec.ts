import { PayloadError } from "../errors.js";
import { parseJson, printJson, UnprintableError, type JsonObject } from "../json/lossless.js";
import type { Shape } from "../json/shape.js";

/**
 * What a producer accepts for a message type: every field may be left out
 * and takes Go's zero value (0, "", false, nil), as when Go code builds the
 * struct with only some fields set.
 */
export type Init<T> = T extends bigint | string | number | boolean | Uint8Array | null | undefined
  ? T
  : T extends readonly (infer E)[]
    ? readonly Init<E>[]
    : T extends JsonObject
      ? T
      : T extends object
        ? { readonly [K in keyof T]?: Init<T[K]> }
        : T;

/**
 * JSON encoding of one Coze message type, exactly as Coze's Go code reads
 * and writes it. `decode` throws JsonSyntaxError (not JSON), PayloadError
 * (a field does not fit its Go type: the path says which) or
 * UnknownEventTypeError (an event type this build does not know).
 */
export interface JsonCodec<T> {
  /** The Go type this codec stands for, e.g. `entity.Event`. */
  readonly goType: string;
  decode(data: Uint8Array | string): T;
  /** Compact JSON, Go's field order, UTF-8. */
  encode(value: Init<T>): Uint8Array;
  encodeToString(value: Init<T>): string;
}

const UTF8 = new TextEncoder();

export function jsonCodec<T>(goType: string, shape: Shape<T>): JsonCodec<T> {
  const encodeToString = (value: Init<T>): string => {
    const tree = shape.encode(value as T, "$");
    try {
      return printJson(tree);
    } catch (err) {
      if (err instanceof UnprintableError) throw new PayloadError(err.path, err.reason);
      throw err;
    }
  };
  return {
    goType,
    decode(data) {
      const v = parseJson(data);
      if (v === null || typeof v !== "object" || Array.isArray(v)) {
        throw new PayloadError("$", `expected a JSON object (${goType}), got ${v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "bigint" ? "an integer" : typeof v}`);
      }
      return shape.decode(v, "$");
    },
    encode: (value) => UTF8.encode(encodeToString(value)),
    encodeToString,
  };
}
