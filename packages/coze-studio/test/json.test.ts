import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isCozeStudioError, parseJson, printJson, type JsonValue } from "../src/index.js";

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("parseJson", () => {
  it("keeps every integer exact as a bigint, other numbers as float64", () => {
    expect(parseJson("[0,-0,9007199254740993,-9223372036854775808,123456789012345678901234567890]")).toEqual([0n, 0n, 9007199254740993n, -9223372036854775808n, 123456789012345678901234567890n]);
    expect(parseJson("[1.5,-0.0,1e2,2E-3,1.0]")).toEqual([1.5, -0, 100, 0.002, 1]);
  });

  it("reads strings with every escape, surrogate pairs and raw UTF-8", () => {
    expect(parseJson(String.raw`"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"`)).toBe('"\\/\b\f\n\r\té😀');
    expect(parseJson(utf8('"é😀"'))).toBe("é😀");
  });

  it("replaces what Go replaces with U+FFFD: unpaired surrogate escapes, invalid UTF-8", () => {
    expect(parseJson(String.raw`"a\ud800b"`)).toBe("a\ufffdb");
    expect(parseJson(String.raw`"\udc00\ud800\u0041"`)).toBe("\ufffd\ufffdA");
    expect(parseJson(new Uint8Array([0x22, 0x61, 0xff, 0x62, 0x22]))).toBe("a\ufffdb");
  });

  it("keeps the last value of a repeated key (as Go) and treats __proto__ as a plain key", () => {
    const v = parseJson('{"a":1,"a":2,"__proto__":{"polluted":true}}') as Record<string, JsonValue>;
    expect(v["a"]).toBe(2n);
    expect(Object.getPrototypeOf(v)).toBeNull();
    expect(v["__proto__"]).toEqual({ polluted: true });
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });

  it.each([
    ["", 0, /unexpected end of input, expected a value/],
    ["{", 1, /expected a string key/],
    ['{"a":1,}', 7, /expected a string key/],
    ["[1,]", 3, /expected a value/],
    ["[1 2]", 3, /expected ',' or ']'/],
    ['{"a" 1}', 5, /expected ':' after key "a"/],
    ["{'a':1}", 1, /expected a string key/],
    ["01", 1, /leading zero/],
    ["-", 1, /expected a digit/],
    ["1.", 2, /digit after the decimal point/],
    ["1e", 2, /digit in the exponent/],
    ["NaN", 0, /unexpected character "N"/],
    ["1e400", 0, /outside the range of a float64/],
    ['"abc', 4, /unterminated string/],
    ['"a\nb"', 2, /control character U\+000a must be escaped/],
    [String.raw`"\x"`, 2, /invalid escape \\x/],
    [String.raw`"\u12"`, 3, /four hex digits/],
    ["tru", 0, /expected true/],
    ["{} x", 3, /after the top-level value/],
    ["// c\n{}", 0, /unexpected character "\/"/],
  ])("refuses %j at offset %i", (text, offset, reason) => {
    let err: unknown;
    try {
      parseJson(text);
    } catch (e) {
      err = e;
    }
    expect(isCozeStudioError(err, "COZE_JSON_MALFORMED")).toBe(true);
    expect((err as { offset: number }).offset).toBe(offset);
    expect((err as Error).message).toMatch(reason);
  });

  it("refuses a byte-order mark, as Go does", () => {
    expect(() => parseJson(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]))).toThrow(/malformed JSON at offset 0/);
  });

  it("refuses nesting deeper than 1,000 instead of overflowing the stack", () => {
    expect(() => parseJson("[".repeat(100_000) + "]".repeat(100_000))).toThrow(/nesting deeper than 1000/);
    expect(parseJson("[".repeat(1000) + "]".repeat(1000))).toBeDefined();
  });
});

describe("printJson", () => {
  it("prints compactly, integers exactly, -0 and floats as Go does", () => {
    expect(printJson({ a: [1n, -0, 1.5, 1e21, 1e-7, 100, null, true, "x"] })).toBe('{"a":[1,-0,1.5,1e+21,1e-7,100,null,true,"x"]}');
    expect(printJson(2n ** 64n)).toBe("18446744073709551616");
  });

  it("escapes as Go's encoder does without HTML escaping", () => {
    expect(printJson('<a&b> "q" \\ \n\r\t\b\f\u0001\u2028\u2029 é 😀')).toBe(String.raw`"<a&b> \"q\" \\ \n\r\t\b\f\u0001\u2028\u2029 é 😀"`);
  });

  it("skips undefined keys, refuses what JSON cannot carry", () => {
    expect(printJson({ a: undefined, b: 1n } as unknown as JsonValue)).toBe('{"b":1}');
    expect(() => printJson(Number.NaN)).toThrow(/NaN cannot be written/);
    expect(() => printJson({ d: new Date() } as unknown as JsonValue)).toThrow(/\$\.d: \[object Date\] is not a JSON value/);
    expect(() => printJson(["\udfff"])).toThrow(/\$\[0\]: string has an unpaired surrogate/);
  });

  it("round-trips any JSON value exactly (property)", () => {
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        fc.constant(null),
        fc.boolean(),
        fc.string({ unit: "grapheme" }),
        fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
        fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d)),
        fc.array(tie("value"), { maxLength: 4 }),
        fc.dictionary(fc.string(), tie("value"), { maxKeys: 4 }),
      ),
    })).value as fc.Arbitrary<JsonValue>;
    fc.assert(
      fc.property(json, (v) => {
        const text = printJson(v);
        expect(printJson(parseJson(text))).toBe(text);
        expect(parseJson(utf8(text))).toEqual(parseJson(text));
      }),
      { numRuns: 300 },
    );
  });
});
