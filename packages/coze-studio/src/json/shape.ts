/**
 * Shapes: how one Go type reads from and writes to JSON, following Go's
 * encoding/json rules so that what Go accepts is accepted here and what is
 * written here Go reads back the same:
 *
 * - a missing key leaves the zero value; `null` leaves the zero value for a
 *   value type and means nil for a pointer, slice or map;
 * - keys match exactly, else case-insensitively (Go prefers the exact match);
 * - int64 needs an integer literal within range (`1.0` and `1e3` are refused,
 *   as in Go); float64 takes any number;
 * - structs are written in Go's field order, with `omitempty` where the Go
 *   tag has it; keys Go does not know are kept (`unknownFields`) and written
 *   back after the known ones.
 *
 * Everything here is internal: the message modules build their codecs from
 * it and export the resulting types.
 */
import { PayloadError, UnknownEventTypeError } from "../errors.js";
import { printNumber, type JsonObject, type JsonValue, type UnprintableError } from "./lossless.js";

export interface Shape<T> {
  /** `v` undefined: the key was absent. */
  decode(v: JsonValue | undefined, path: string): T;
  /** Validates and converts; undefined means "omit the key" (only for omitempty fields). */
  encode(v: T, path: string): JsonValue;
  /** Go's zero value, used when the key is absent or null. */
  readonly zero: () => T;
  /** Whether Go's omitempty would leave this value out. */
  isEmpty(v: T): boolean;
  /** Decoded even when absent or null (an event's discriminator: there is no event without one). */
  readonly required?: boolean;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const typeOf = (v: JsonValue): string => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v === "bigint" ? "integer" : typeof v === "object" ? "object" : typeof v);

function expected(path: string, what: string, v: JsonValue): never {
  throw new PayloadError(path, `expected ${what}, got ${typeOf(v)}${typeof v === "string" ? ` ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}` : typeof v === "number" || typeof v === "bigint" ? ` ${String(v)}` : ""}`);
}

export const string: Shape<string> = {
  decode: (v, path) => (v === undefined || v === null ? "" : typeof v === "string" ? v : expected(path, "a string", v)),
  encode: (v, path) => (typeof v === "string" ? v : bad(path, "a string", v)),
  zero: () => "",
  isEmpty: (v) => v === "",
};

export const bool: Shape<boolean> = {
  decode: (v, path) => (v === undefined || v === null ? false : typeof v === "boolean" ? v : expected(path, "true or false", v)),
  encode: (v, path) => (typeof v === "boolean" ? v : bad(path, "a boolean", v)),
  zero: () => false,
  isEmpty: (v) => !v,
};

/** Go int64 (ids, times in ms, counts): a bigint, exact over the whole int64 range. */
export const int64: Shape<bigint> = {
  decode: (v, path) => {
    if (v === undefined || v === null) return 0n;
    if (typeof v !== "bigint") return typeof v === "number" ? nonInteger(path, v, "an int64") : expected(path, "an int64 (an integer literal)", v);
    if (v < INT64_MIN || v > INT64_MAX) throw new PayloadError(path, `${v} is outside the int64 range`);
    return v;
  },
  encode: (v, path) => {
    if (typeof v !== "bigint") return bad(path, "a bigint (Go int64)", v);
    if (v < INT64_MIN || v > INT64_MAX) throw new PayloadError(path, `${v} is outside the int64 range`);
    return v;
  },
  zero: () => 0n,
  isEmpty: (v) => v === 0n,
};

function nonInteger(path: string, v: number, what: string): never {
  throw new PayloadError(path, `expected ${what}, got ${v} (Go refuses a fraction or an exponent for an integer field)`);
}

/**
 * A Go integer held as a JS number: Go `int`/`int32`, and named int64 enums
 * (DocumentType, status codes), whose values are small. `bits` is the Go
 * width; a value outside it, or beyond 2^53 where a number stops being exact,
 * is refused rather than rounded.
 */
export function intNumber(bits: 32 | 64, goType: string): Shape<number> {
  const min = bits === 32 ? -(2 ** 31) : Number.MIN_SAFE_INTEGER;
  const max = bits === 32 ? 2 ** 31 - 1 : Number.MAX_SAFE_INTEGER;
  const range = bits === 32 ? `the ${goType} range` : `the exact range of a JS number (±2^53; ${goType} values in Coze are small)`;
  const check = (n: number, path: string): number => {
    if (n < min || n > max) throw new PayloadError(path, `${n} is outside ${range}`);
    return n;
  };
  return {
    decode: (v, path) => {
      if (v === undefined || v === null) return 0;
      if (typeof v === "number") return nonInteger(path, v, `an integer (${goType})`);
      if (typeof v !== "bigint") return expected(path, `an integer (${goType})`, v);
      if (v < BigInt(min) || v > BigInt(max)) throw new PayloadError(path, `${v} is outside ${range}`);
      return Number(v);
    },
    encode: (v, path) => {
      if (typeof v !== "number" || !Number.isInteger(v)) return bad(path, `an integer number (Go ${goType})`, v);
      return BigInt(check(v, path));
    },
    zero: () => 0,
    isEmpty: (v) => v === 0,
  };
}

/** Go float64: any JSON number. */
export const float64: Shape<number> = {
  decode: (v, path) => {
    if (v === undefined || v === null) return 0;
    if (typeof v === "number") return v;
    if (typeof v === "bigint") return Number(v); // an integer literal is a fine float64 (rounded as Go rounds it)
    return expected(path, "a number (float64)", v);
  },
  encode: (v, path) => {
    if (typeof v !== "number") return bad(path, "a number (Go float64)", v);
    try {
      printNumber(v, path);
    } catch (err) {
      throw new PayloadError(path, (err as UnprintableError).reason);
    }
    return v;
  },
  zero: () => 0,
  isEmpty: (v) => v === 0,
};

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Go []byte: standard base64 with padding in JSON; nil is null. */
export const bytes: Shape<Uint8Array | undefined> = {
  decode: (v, path) => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string") return expected(path, "a base64 string ([]byte)", v);
    const clean = v.replace(/[\r\n]/g, ""); // Go's decoder skips line breaks
    if (!BASE64.test(clean)) throw new PayloadError(path, "not standard base64 with padding (Go []byte)");
    return new Uint8Array(Buffer.from(clean, "base64"));
  },
  encode: (v, path) => {
    if (v === undefined) return null;
    if (!(v instanceof Uint8Array)) return bad(path, "a Uint8Array ([]byte)", v);
    return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
  },
  zero: () => undefined,
  isEmpty: (v) => v === undefined || v.length === 0,
};

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Go time.Time: an RFC 3339 string. Kept as the string, because a Date
 * would drop nanoseconds and the offset Go wrote.
 */
export const time: Shape<string> = {
  decode: (v, path) => {
    if (v === undefined || v === null) return "0001-01-01T00:00:00Z";
    if (typeof v !== "string") return expected(path, "an RFC 3339 time string", v);
    if (!RFC3339.test(v)) throw new PayloadError(path, `${JSON.stringify(v)} is not an RFC 3339 time (Go time.Time)`);
    return v;
  },
  encode: (v, path) => {
    if (typeof v !== "string" || !RFC3339.test(v)) return bad(path, "an RFC 3339 time string", v);
    return v;
  },
  zero: () => "0001-01-01T00:00:00Z",
  isEmpty: () => false, // Go's omitempty never omits a struct such as time.Time
};

/** A pointer: undefined is nil (null in JSON). */
export function pointer<T>(inner: Shape<T>): Shape<T | undefined> {
  return {
    decode: (v, path) => (v === undefined || v === null ? undefined : inner.decode(v, path)),
    encode: (v, path) => (v === undefined || v === null ? null : inner.encode(v, path)),
    zero: () => undefined,
    isEmpty: (v) => v === undefined,
  };
}

/** A pointer inside an array (`[]*Document`): null is nil, kept in place (Coze's handlers skip nil elements). */
export function nullable<T>(inner: Shape<T>): Shape<T | null> {
  return {
    decode: (v, path) => (v === undefined || v === null ? null : inner.decode(v, path)),
    encode: (v, path) => (v === undefined || v === null ? null : inner.encode(v, path)),
    zero: () => null,
    isEmpty: (v) => v === null,
  };
}

/** A slice: undefined is nil (null in JSON), [] stays []. */
export function slice<T>(inner: Shape<T>): Shape<readonly T[] | undefined> {
  return {
    decode: (v, path) => {
      if (v === undefined || v === null) return undefined;
      if (!Array.isArray(v)) return expected(path, "an array", v);
      return (v as readonly JsonValue[]).map((x, i) => inner.decode(x, `${path}[${i}]`));
    },
    encode: (v, path) => {
      if (v === undefined || v === null) return null;
      if (!Array.isArray(v)) return bad(path, "an array", v);
      return (v as readonly T[]).map((x, i) => inner.encode(x, `${path}[${i}]`));
    },
    zero: () => undefined,
    isEmpty: (v) => v === undefined || v.length === 0,
  };
}

/** map[string]string: undefined is nil. */
export const stringMap: Shape<Readonly<Record<string, string>> | undefined> = {
  decode: (v, path) => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "object" || Array.isArray(v) || typeof v === "bigint") return expected(path, "an object of strings (map[string]string)", v);
    const out = Object.create(null) as Record<string, string>;
    // A null value reads as "" (Go's zero value for the element).
    for (const [k, x] of Object.entries(v as JsonObject)) out[k] = string.decode(x, `${path}.${k}`);
    return out;
  },
  encode: (v, path) => {
    if (v === undefined || v === null) return null;
    if (typeof v !== "object" || Array.isArray(v)) return bad(path, "an object of strings", v);
    const out = Object.create(null) as Record<string, JsonValue>;
    for (const [k, x] of sortedEntries(v)) out[k] = string.encode(x, `${path}.${k}`);
    return out;
  },
  zero: () => undefined,
  isEmpty: (v) => v === undefined || Object.keys(v).length === 0,
};

/** map[string]any: kept as JSON (integers as bigint, so nothing is rounded); undefined is nil. */
export const jsonObject: Shape<JsonObject | undefined> = {
  decode: (v, path) => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "object" || Array.isArray(v) || typeof v === "bigint") return expected(path, "an object (map[string]any)", v);
    return v as JsonObject;
  },
  encode: (v, path) => {
    if (v === undefined || v === null) return null;
    if (typeof v !== "object" || Array.isArray(v)) return bad(path, "an object (map[string]any)", v);
    return checkJson(v, path, true);
  },
  zero: () => undefined,
  isEmpty: (v) => v === undefined || Object.keys(v).length === 0,
};

/**
 * Go writes a map's keys sorted (encoding/json); so do the map fields here.
 * (A JS object still lists integer-like keys first, in numeric order: a
 * different byte order for such keys, the same JSON value.)
 */
const sortedEntries = <V>(o: Readonly<Record<string, V>>): Array<[string, V]> => Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** Walks a caller-built JSON value and refuses what JSON cannot carry, with the path; `sort` orders object keys as Go orders a map's. */
function checkJson(v: unknown, path: string, sort = false): JsonValue {
  switch (typeof v) {
    case "string":
    case "boolean":
    case "bigint":
      return v;
    case "number":
      if (!Number.isFinite(v)) throw new PayloadError(path, `${v} cannot be written as JSON`);
      return v;
    case "object": {
      if (v === null) return null;
      if (Array.isArray(v)) return v.map((x, i) => checkJson(x, `${path}[${i}]`, sort));
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== null && proto !== Object.prototype) throw new PayloadError(path, `${Object.prototype.toString.call(v)} is not a JSON value`);
      const out = Object.create(null) as Record<string, JsonValue>;
      const entries = Object.entries(v as Record<string, unknown>);
      for (const [k, x] of sort ? sortedEntries(Object.fromEntries(entries)) : entries) if (x !== undefined) out[k] = checkJson(x, `${path}.${k}`, sort);
      return out;
    }
    default:
      throw new PayloadError(path, `${typeof v} is not a JSON value`);
  }
}

function bad(path: string, what: string, v: unknown): never {
  const got = v === null ? "null" : Array.isArray(v) ? "an array" : typeof v;
  throw new PayloadError(path, `expected ${what}, got ${got}${typeof v === "number" ? ` ${v}` : ""}`);
}

/** Keys a decoded struct had that its Go type does not: written back unchanged after the known fields. */
export interface Extensible {
  readonly unknownFields?: JsonObject;
}

export interface Field<T> {
  readonly json: string;
  readonly shape: Shape<T>;
  readonly omitEmpty: boolean;
}

export const field = <T>(json: string, shape: Shape<T>, opts: { readonly omitEmpty?: boolean } = {}): Field<T> => ({ json, shape, omitEmpty: opts.omitEmpty ?? false });

// Not homomorphic (keyof is filtered), so every property is required here and keeps `| undefined` when optional.
type Fields<T> = { readonly [K in Exclude<keyof T, "unknownFields">]: Field<T[K]> };

/**
 * A Go struct. `fields` lists every TypeScript property with its JSON name
 * and shape, in Go's declaration order (the order Go writes them). The type
 * parameter ties the two: a property without a field, or a field of the
 * wrong type, does not compile.
 */
export function struct<T extends Extensible>(goName: string, fields: Fields<T>): Shape<T> & { readonly goName: string } {
  const entries: Array<[string, Field<unknown>]> = Object.entries<Field<unknown>>(fields as unknown as Record<string, Field<unknown>>);
  const exact = new Map(entries.map(([k, f]) => [f.json, k]));
  const folded = new Map(entries.map(([k, f]) => [f.json.toLowerCase(), k]));
  const zero = (): T => {
    const out: Record<string, unknown> = {};
    for (const [k, f] of entries) {
      const z = f.shape.zero();
      if (z !== undefined) out[k] = z;
    }
    return out as T;
  };
  return {
    goName,
    zero,
    decode(v, path) {
      if (v === undefined || v === null) return zero();
      if (typeof v !== "object" || Array.isArray(v) || typeof v === "bigint") return expected(path, `an object (${goName})`, v);
      const obj = v as JsonObject;
      const out = zero() as unknown as Record<string, unknown>;
      let unknown: Record<string, JsonValue> | undefined;
      const seen = new Set<string>();
      for (const [key, raw] of Object.entries(obj)) {
        // Go prefers the exact key, then takes a case-insensitive match.
        const prop = exact.get(key) ?? folded.get(key.toLowerCase());
        if (prop === undefined) {
          (unknown ??= Object.create(null) as Record<string, JsonValue>)[key] = raw;
          continue;
        }
        // null on a value type leaves it as it was (Go); on pointers, slices and maps the shape returns nil.
        const f = fields[prop as keyof Fields<T>] as Field<unknown>;
        const value = raw === null && f.shape.zero() !== undefined && f.shape.required !== true ? out[prop] : f.shape.decode(raw, `${path}.${key}`);
        seen.add(prop);
        if (value === undefined) delete out[prop];
        else out[prop] = value;
      }
      for (const [k, f] of entries) if (f.shape.required === true && !seen.has(k)) f.shape.decode(undefined, `${path}.${f.json}`);
      if (unknown !== undefined) out["unknownFields"] = unknown;
      return out as T;
    },
    encode(v, path) {
      if (typeof v !== "object" || v === null || Array.isArray(v)) return bad(path, `an object (${goName})`, v);
      const src = v as unknown as Record<string, unknown>;
      const out = Object.create(null) as Record<string, JsonValue>;
      for (const [k, f] of entries) {
        const given = src[k];
        const value = given === undefined ? f.shape.zero() : given;
        if (f.omitEmpty && f.shape.isEmpty(value)) continue;
        out[f.json] = f.shape.encode(value, `${path}.${f.json}`);
      }
      const unknown = src["unknownFields"];
      if (unknown !== undefined) {
        if (typeof unknown !== "object" || unknown === null || Array.isArray(unknown)) bad(`${path}.unknownFields`, "an object", unknown);
        for (const [k, x] of Object.entries(unknown as Record<string, unknown>)) {
          // A known field always wins over a stale unknown copy of it (exactly or case-insensitively).
          if (exact.has(k) || folded.has(k.toLowerCase()) || x === undefined) continue;
          out[k] = checkJson(x, `${path}.${k}`);
        }
      }
      return out;
    },
    isEmpty: () => false, // Go's omitempty never omits a struct value
  };
}

/**
 * The discriminator of an event (`Type`, `op_type`): a Go string type with
 * known values. An unknown value is an UnknownEventTypeError on decode (a
 * newer build's event: never acked away, see the consumer) and a
 * PayloadError on encode.
 */
export function eventType<T extends string>(field: string, values: readonly T[]): Shape<T> {
  return {
    decode: (v, path) => {
      const s = string.decode(v, path);
      if (!(values as readonly string[]).includes(s)) throw new UnknownEventTypeError(field, s, values);
      return s as T;
    },
    encode: (v, path) => {
      if (typeof v !== "string" || !(values as readonly string[]).includes(v)) {
        throw new PayloadError(path, `expected one of ${values.join(", ")}, got ${typeof v === "string" ? JSON.stringify(v) : typeof v}`);
      }
      return v;
    },
    zero: () => "" as T,
    isEmpty: (v) => v === "",
    required: true,
  };
}
