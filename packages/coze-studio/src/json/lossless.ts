/**
 * A JSON parser and printer that never loses an integer.
 *
 * `JSON.parse` turns every number into a double, so a Coze id above 2^53
 * (Coze's ids are 64-bit snowflakes) silently changes, and the Go side then
 * looks up a different document. Here an integer literal (`-?digits`) is
 * always a `bigint`; a literal with a fraction or exponent is a `number`
 * (a float64, as Go reads it into float64). Printing a `bigint` writes its
 * exact digits.
 *
 * The grammar is RFC 8259, as strict as Go's encoding/json: no comments,
 * trailing commas, single quotes, NaN, leading zeros or a BOM; control
 * characters must be escaped. Where Go is lenient this is lenient the same
 * way: invalid UTF-8 and unpaired surrogate escapes become U+FFFD, and a
 * repeated key keeps its last value.
 */
import { JsonSyntaxError } from "../errors.js";

/** A JSON object with its keys as given (null-prototype: `__proto__` is just a key). */
export interface JsonObject {
  readonly [key: string]: JsonValue;
}

/** A parsed JSON value: integers are `bigint`, other numbers `number`. */
export type JsonValue = null | boolean | string | number | bigint | readonly JsonValue[] | JsonObject;

/**
 * Nesting deeper than this is refused: a hostile payload must not exhaust
 * the stack. (Go's decoder stops at 10,000; this recursive parser would run
 * out of stack before that, and no Coze payload nests beyond a dozen.)
 */
const MAX_DEPTH = 1000;

// fatal: false replaces invalid UTF-8 with U+FFFD, as Go does; ignoreBOM keeps a BOM in the text so it is refused, as Go does.
const UTF8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/** Parses JSON text or UTF-8 bytes; throws JsonSyntaxError with the offset where it stopped. */
export function parseJson(input: string | Uint8Array): JsonValue {
  const text = typeof input === "string" ? input : UTF8.decode(input);
  const p = new Parser(text);
  p.ws();
  const v = p.value(0);
  p.ws();
  if (p.i < text.length) p.fail(`unexpected ${p.show()} after the top-level value`);
  return v;
}

class Parser {
  i = 0;
  constructor(readonly s: string) {}

  fail(reason: string): never {
    throw new JsonSyntaxError(this.i, reason);
  }

  show(): string {
    if (this.i >= this.s.length) return "end of input";
    return `character ${JSON.stringify(this.s[this.i])}`;
  }

  ws(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.i++;
      else break;
    }
  }

  value(depth: number): JsonValue {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`);
    const c = this.s[this.i];
    switch (c) {
      case "{":
        return this.object(depth);
      case "[":
        return this.array(depth);
      case '"':
        return this.string();
      case "t":
        return this.literal("true", true);
      case "f":
        return this.literal("false", false);
      case "n":
        return this.literal("null", null);
      default:
        if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return this.number();
        return this.fail(`unexpected ${this.show()}, expected a value`);
    }
  }

  literal<T extends JsonValue>(word: string, v: T): T {
    if (this.s.startsWith(word, this.i)) {
      this.i += word.length;
      return v;
    }
    return this.fail(`unexpected ${this.show()}, expected ${word}`);
  }

  object(depth: number): JsonObject {
    const out = Object.create(null) as Record<string, JsonValue>;
    this.i++; // {
    this.ws();
    if (this.s[this.i] === "}") {
      this.i++;
      return out;
    }
    for (;;) {
      if (this.s[this.i] !== '"') this.fail(`unexpected ${this.show()}, expected a string key`);
      const key = this.string();
      this.ws();
      if (this.s[this.i] !== ":") this.fail(`unexpected ${this.show()}, expected ':' after key ${JSON.stringify(key)}`);
      this.i++;
      this.ws();
      // A repeated key keeps its last value, as in Go (and JSON.parse).
      out[key] = this.value(depth + 1);
      this.ws();
      const c = this.s[this.i];
      if (c === ",") {
        this.i++;
        this.ws();
        continue;
      }
      if (c === "}") {
        this.i++;
        return out;
      }
      this.fail(`unexpected ${this.show()}, expected ',' or '}' in an object`);
    }
  }

  array(depth: number): JsonValue[] {
    const out: JsonValue[] = [];
    this.i++; // [
    this.ws();
    if (this.s[this.i] === "]") {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i];
      if (c === ",") {
        this.i++;
        this.ws();
        continue;
      }
      if (c === "]") {
        this.i++;
        return out;
      }
      this.fail(`unexpected ${this.show()}, expected ',' or ']' in an array`);
    }
  }

  number(): number | bigint {
    const s = this.s;
    const start = this.i;
    if (s[this.i] === "-") this.i++;
    if (s[this.i] === "0") {
      this.i++;
      if (isDigit(s[this.i])) this.fail("a number cannot have a leading zero");
    } else if (isDigit(s[this.i])) {
      while (isDigit(s[this.i])) this.i++;
    } else {
      this.fail(`unexpected ${this.show()}, expected a digit`);
    }
    let integer = true;
    if (s[this.i] === ".") {
      integer = false;
      this.i++;
      if (!isDigit(s[this.i])) this.fail("expected a digit after the decimal point");
      while (isDigit(s[this.i])) this.i++;
    }
    if (s[this.i] === "e" || s[this.i] === "E") {
      integer = false;
      this.i++;
      if (s[this.i] === "+" || s[this.i] === "-") this.i++;
      if (!isDigit(s[this.i])) this.fail("expected a digit in the exponent");
      while (isDigit(s[this.i])) this.i++;
    }
    const literal = s.slice(start, this.i);
    if (integer) return BigInt(literal);
    const n = Number(literal);
    // Go cannot hold it either ("cannot unmarshal number 1e400 into float64"); a silent Infinity would be worse.
    if (!Number.isFinite(n)) {
      this.i = start;
      this.fail(`number ${literal} is outside the range of a float64`);
    }
    return n;
  }

  string(): string {
    const s = this.s;
    this.i++; // opening quote
    let out = "";
    let run = this.i;
    for (;;) {
      if (this.i >= s.length) this.fail("unterminated string");
      const c = s.charCodeAt(this.i);
      if (c === 0x22) {
        out += s.slice(run, this.i);
        this.i++;
        return out;
      }
      if (c < 0x20) this.fail(`control character U+${c.toString(16).padStart(4, "0")} must be escaped in a string`);
      if (c === 0x5c) {
        out += s.slice(run, this.i);
        out += this.escape();
        run = this.i;
        continue;
      }
      if (c >= 0xd800 && c <= 0xdfff) {
        // A raw surrogate can only come from a string input (bytes decode to valid UTF-16): keep pairs, replace loners as Go does.
        const next = s.charCodeAt(this.i + 1);
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          this.i += 2;
          continue;
        }
        out += s.slice(run, this.i) + "\ufffd";
        this.i++;
        run = this.i;
        continue;
      }
      this.i++;
    }
  }

  escape(): string {
    const s = this.s;
    this.i++; // backslash
    const e = s[this.i];
    this.i++;
    switch (e) {
      case '"':
        return '"';
      case "\\":
        return "\\";
      case "/":
        return "/";
      case "b":
        return "\b";
      case "f":
        return "\f";
      case "n":
        return "\n";
      case "r":
        return "\r";
      case "t":
        return "\t";
      case "u": {
        const hi = this.hex4();
        if (hi >= 0xd800 && hi <= 0xdbff && s[this.i] === "\\" && s[this.i + 1] === "u") {
          const save = this.i;
          this.i += 2;
          const lo = this.hex4();
          if (lo >= 0xdc00 && lo <= 0xdfff) return String.fromCharCode(hi, lo);
          this.i = save; // not a pair: the second escape is read on its own
          return "\ufffd";
        }
        if (hi >= 0xd800 && hi <= 0xdfff) return "\ufffd"; // unpaired surrogate: U+FFFD, as Go does
        return String.fromCharCode(hi);
      }
      default:
        this.i--;
        return this.fail(`invalid escape \\${e ?? ""} in a string`);
    }
  }

  hex4(): number {
    const h = this.s.slice(this.i, this.i + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail("expected four hex digits after \\u");
    this.i += 4;
    return Number.parseInt(h, 16);
  }
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= "0" && c <= "9";

/** Thrown by `printJson` for a value JSON cannot carry; the caller turns it into a PayloadError with a path. */
export class UnprintableError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

/**
 * Prints compact JSON (no spaces, as Go's json.Marshal). Integers print
 * exactly (`bigint`, and integral `number`s without a fraction); strings
 * are escaped as Go's encoder with SetEscapeHTML(false) escapes them (and
 * as Coze's sonic writes them: `<`, `>`, `&` stay as they are). A non-finite number, a lone surrogate
 * (not valid Unicode: Go would read U+FFFD) or a value that is not JSON is
 * refused with an UnprintableError naming its path.
 */
export function printJson(v: JsonValue, path = "$"): string {
  const parts: string[] = [];
  write(v, path, parts, 0);
  return parts.join("");
}

function write(v: unknown, path: string, out: string[], depth: number): void {
  if (depth > MAX_DEPTH) throw new UnprintableError(path, `nesting deeper than ${MAX_DEPTH}`);
  switch (typeof v) {
    case "string":
      out.push(quote(v, path));
      return;
    case "bigint":
      out.push(v.toString());
      return;
    case "number":
      out.push(printNumber(v, path));
      return;
    case "boolean":
      out.push(v ? "true" : "false");
      return;
    case "object":
      if (v === null) {
        out.push("null");
        return;
      }
      if (Array.isArray(v)) {
        out.push("[");
        v.forEach((x, i) => {
          if (i > 0) out.push(",");
          write(x, `${path}[${i}]`, out, depth + 1);
        });
        out.push("]");
        return;
      }
      if (isPlainObject(v)) {
        out.push("{");
        let first = true;
        for (const [k, x] of Object.entries(v)) {
          if (x === undefined) continue; // an absent optional key, as JSON.stringify skips it
          if (!first) out.push(",");
          first = false;
          out.push(quote(k, path), ":");
          write(x, `${path}.${k}`, out, depth + 1);
        }
        out.push("}");
        return;
      }
      throw new UnprintableError(path, `${Object.prototype.toString.call(v)} is not a JSON value (use plain objects, arrays, strings, numbers, bigints, booleans and null)`);
    default:
      throw new UnprintableError(path, `${typeof v} is not a JSON value`);
  }
}

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === null || proto === Object.prototype;
}

/** Go prints float64 like this too: integral values without a fraction, others in shortest round-trip form. */
export function printNumber(n: number, path: string): string {
  if (!Number.isFinite(n)) throw new UnprintableError(path, `${n} cannot be written as JSON`);
  if (Object.is(n, -0)) return "-0";
  return JSON.stringify(n);
}

// Escaped: the quote, the backslash, C0 controls, U+2028/U+2029 (as Go always does: they end a line in JavaScript source), and surrogates (checked for pairing).
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u2028\u2029\ud800-\udfff]/;

function quote(s: string, path: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    else if (c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16)}`;
    else if (c < 0x20) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff) {
      out += s[i]! + s[i + 1]!;
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      throw new UnprintableError(path, `string has an unpaired surrogate U+${c.toString(16)} at index ${i}: not valid Unicode`);
    } else out += s[i]!;
  }
  return out + '"';
}
