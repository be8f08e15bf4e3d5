import type { CatalogField } from "./catalog.js";
import { usageError } from "./errors.js";

const INT32 = new Set(["int32", "sint32", "sfixed32"]);
const UINT32 = new Set(["uint32", "fixed32"]);
const INT64 = new Set(["int64", "sint64", "sfixed64", "uint64", "fixed64"]);

function checkValue(path: string, type: string, v: unknown): void {
  const bad = (want: string): never => {
    throw usageError(`field ${path}: expected ${want}, got ${JSON.stringify(v)}`);
  };
  if (type.startsWith("repeated ")) {
    if (!Array.isArray(v)) bad("an array");
    (v as unknown[]).forEach((x, i) => checkValue(`${path}[${i}]`, type.slice(9), x));
    return;
  }
  const map = /^map<(\w+), (.+)>$/.exec(type);
  if (map) {
    if (typeof v !== "object" || v === null || Array.isArray(v)) bad("an object (a map)");
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) checkValue(`${path}.${k}`, map[2]!, x);
    return;
  }
  if (type === "string") {
    if (typeof v !== "string") bad("a string");
  } else if (type === "bool") {
    if (typeof v !== "boolean") bad("true or false");
  } else if (INT32.has(type) || UINT32.has(type)) {
    const n = typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : v;
    const min = UINT32.has(type) ? 0 : -(2 ** 31);
    const max = UINT32.has(type) ? 2 ** 32 - 1 : 2 ** 31 - 1;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) bad(`a ${type} integer`);
  } else if (INT64.has(type)) {
    const ok = (typeof v === "number" && Number.isSafeInteger(v)) || (typeof v === "string" && /^-?\d+$/.test(v));
    if (!ok) bad(`a ${type} (an integer, or a string of digits for values beyond 2^53)`);
    const b = BigInt(v as string | number);
    const [lo, hi] = type.startsWith("u") || type.startsWith("fixed") ? [0n, 2n ** 64n - 1n] : [-(2n ** 63n), 2n ** 63n - 1n];
    if (b < lo || b > hi) bad(`a ${type} in range`);
  } else if (type === "double" || type === "float") {
    if (typeof v !== "number") bad("a number");
  } else if (type === "bytes") {
    if (typeof v !== "string" || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) bad("base64 text");
  } else if (type === "google.protobuf.Timestamp") {
    if (typeof v !== "string" || Number.isNaN(new Date(v).getTime())) bad('an RFC 3339 time such as "2026-11-22T10:00:00Z"');
  } else if (typeof v !== "string" && typeof v !== "number" && (typeof v !== "object" || v === null || Array.isArray(v))) {
    // An enum (name or number) or a nested message (object): the codec reads the rest.
    bad(`${type} (an enum name or number, or an object)`);
  }
}

/**
 * Reads an event's JSON (proto3 JSON mapping; field names in camelCase or
 * snake_case) strictly: malformed JSON, unknown fields and values of the
 * wrong type are errors naming the field, before anything is sent. The
 * generated codecs alone would coerce (a number into a string field).
 */
export function readEventJson(text: string, type: string, fields: readonly CatalogField[]): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw usageError(`malformed JSON for ${type}: ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw usageError(`${type} must be a JSON object, got ${JSON.stringify(value)}`);
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const f = fields.find((x) => x.prop === key || x.name === key);
    if (f === undefined) throw usageError(`${type} has no field "${key}"; its fields: ${fields.map((x) => x.prop).join(", ")}`);
    if (v !== null) checkValue(f.prop, f.type, v);
    out[f.prop] = v;
  }
  return out;
}
