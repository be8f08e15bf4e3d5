/**
 * The codecs against Go: every fixture is encoded here, read and written
 * back by Go's encoding/json into structs declared as Coze declares them
 * (test/go), and must come back byte for byte; then Go's output is decoded
 * here and must equal what was sent. No server involved.
 */
import { describe, expect, it } from "vitest";
import {
  fanOutIndexDocuments,
  isCozeStudioError,
  knowledgeEventCodec,
  knowledgeEvents,
  projectEventCodec,
  resourceEventCodec,
  type JsonCodec,
  type Init,
  type KnowledgeEvent,
} from "../src/index.js";
import { BIG_ID, INT64_MAX, fullDocument, fullKnowledgeEvents, fullProjectEvents, fullResourceEvents } from "./fixtures.js";
import { runGo } from "./go.js";

async function goEcho(topic: string, lines: readonly string[]): Promise<string[]> {
  const out = await runGo(["echo", topic], {}, lines);
  return out.map((l) => {
    if (typeof l["json"] !== "string") throw new Error(`Go could not read it: ${JSON.stringify(l)}`);
    return l["json"];
  });
}

function roundTrip<T>(name: string, topic: string, codec: JsonCodec<T>, fixtures: () => Array<Init<T>>): void {
  describe(`${name} (${codec.goType})`, () => {
    it("Go reads what is written here and writes back the same bytes", async () => {
      const ours = fixtures().map((f) => codec.encodeToString(f));
      expect(await goEcho(topic, ours)).toEqual(ours);
    });

    it("what Go writes decodes to what was sent, and encodes back to Go's bytes", async () => {
      const sent = fixtures();
      const fromGo = await goEcho(topic, sent.map((f) => codec.encodeToString(f)));
      fromGo.forEach((json, i) => {
        const decoded = codec.decode(json);
        expect(codec.encodeToString(decoded as Init<T>)).toBe(json);
        expect(decoded).toEqual(codec.decode(codec.encode(sent[i]!)));
      });
    });
  });
}

roundTrip("knowledge events", "opencoze_knowledge", knowledgeEventCodec, fullKnowledgeEvents);
roundTrip("resource search events", "opencoze_search_resource", resourceEventCodec, fullResourceEvents);
roundTrip("app search events", "opencoze_search_app", projectEventCodec, fullProjectEvents);

describe("64-bit ids", () => {
  it("an id above 2^53 survives Go -> here -> Go exactly (JSON.parse would round it)", async () => {
    const json = `{"Type":"index_document","KnowledgeID":${BIG_ID},"Document":{"ID":${INT64_MAX},"KnowledgeID":${BIG_ID}}}`;
    expect(BigInt((JSON.parse(json) as { KnowledgeID: number }).KnowledgeID)).not.toBe(BIG_ID); // the rounding this package exists to avoid
    const [go] = await goEcho("opencoze_knowledge", [json]);
    const e = knowledgeEventCodec.decode(go!);
    expect(e.knowledgeId).toBe(BIG_ID);
    expect(e.document?.id).toBe(INT64_MAX);
    const [back] = await goEcho("opencoze_knowledge", [knowledgeEventCodec.encodeToString(e)]);
    expect(back).toContain(`"ID":${INT64_MAX}`);
    expect(back).toContain(`"KnowledgeID":${BIG_ID}`);
  });

  it("integers in extra stay exact here, where Go's map[string]any rounds them to float64", async () => {
    const json = `{"op_type":"created","extra":{"id":${BIG_ID}}}`;
    const e = resourceEventCodec.decode(json);
    expect(e.extra?.["id"]).toBe(BIG_ID);
    expect(resourceEventCodec.encodeToString(e)).toBe(json);
    const [go] = await goEcho("opencoze_search_resource", [json]);
    expect(go).not.toContain(String(BIG_ID)); // Go's own behaviour, documented as a difference
  });

  it("refuses ids outside int64 on both sides", async () => {
    const json = `{"Type":"delete_knowledge_data","SliceIDs":[${2n ** 63n}]}`;
    expect(() => knowledgeEventCodec.decode(json)).toThrow(/\$\.SliceIDs\[0\]: 9223372036854775808 is outside the int64 range/);
    const [go] = await runGo(["echo", "opencoze_knowledge"], {}, [json]);
    expect(go?.error).toMatch(/overflows|cannot unmarshal/);
    expect(() => knowledgeEventCodec.encode({ type: "delete_knowledge_data", sliceIds: [-(2n ** 63n) - 1n] })).toThrow(/\$\.SliceIDs\[0\]: .* outside the int64 range/);
  });
});

describe("unknown fields", () => {
  it("are kept at every level and written back after the known ones", () => {
    const json =
      '{"Type":"index_document","Document":{"ID":1,"NewDocField":{"a":[1,2.5,null]},"TableInfo":{"columns":[{"ID":2,"Fresh":true}],"more":"x"}},"KnowledgeID":1,"FutureField":123456789012345678901234567890}';
    const e = knowledgeEventCodec.decode(json);
    expect(e.unknownFields).toEqual({ FutureField: 123456789012345678901234567890n });
    expect(e.document?.unknownFields).toEqual({ NewDocField: { a: [1n, 2.5, null] } });
    expect(e.document?.tableInfo.unknownFields).toEqual({ more: "x" });
    expect(e.document?.tableInfo.columns?.[0]?.unknownFields).toEqual({ Fresh: true });
    const again = knowledgeEventCodec.decode(knowledgeEventCodec.encode(e));
    expect(again).toEqual(e);
    expect(knowledgeEventCodec.encodeToString(e)).toMatch(/"DocumentReview":null,"FutureField":123456789012345678901234567890}$/);
  });

  it("a stale unknown copy of a known field never overrides it", () => {
    const out = knowledgeEventCodec.encodeToString({ type: "index_document", knowledgeId: 5n, unknownFields: { KnowledgeID: 9n, knowledgeid: 8n, Other: 1n } });
    expect(out).toContain('"KnowledgeID":5');
    expect(out).not.toMatch(/"KnowledgeID":9|"knowledgeid"/);
    expect(out).toContain('"Other":1');
  });
});

describe("Go's decoding rules", () => {
  it("matches keys case-insensitively, exact first, as encoding/json (and sonic) do", async () => {
    const json = '{"type":"index_document","knowledgeid":7,"DOCUMENT":{"id":3}}';
    const e = knowledgeEventCodec.decode(json);
    expect(e).toMatchObject({ type: "index_document", knowledgeId: 7n, document: { id: 3n } });
    const [go] = await goEcho("opencoze_knowledge", [json]);
    expect(knowledgeEventCodec.decode(go!)).toEqual(e);
  });

  it("null leaves a value field at its zero value and makes a pointer nil", () => {
    const e = knowledgeEventCodec.decode('{"Type":"index_document","KnowledgeID":null,"Document":null,"SliceIDs":null}');
    expect(e.knowledgeId).toBe(0n);
    expect(e.document).toBeUndefined();
    expect(e.sliceIds).toBeUndefined();
  });

  it("keeps nil entries of []*Document in place (Coze's fan-out skips them)", () => {
    const e = knowledgeEventCodec.decode('{"Type":"index_documents","Documents":[null,{"ID":1,"KnowledgeID":2}]}');
    expect(e.documents?.[0]).toBeNull();
    expect(fanOutIndexDocuments(e).map((f) => f.shardingKey)).toEqual(["2"]);
  });

  it.each([
    ['{"Type":"index_document","KnowledgeID":1.0}', /\$\.KnowledgeID: expected an int64, got 1 \(Go refuses a fraction/],
    ['{"Type":"index_document","KnowledgeID":1e3}', /\$\.KnowledgeID: expected an int64, got 1000/],
    ['{"Type":"index_document","KnowledgeID":"12"}', /\$\.KnowledgeID: expected an int64 \(an integer literal\), got string "12"/],
    ['{"Type":1}', /\$\.Type: expected a string, got integer 1/],
    ['{"Type":"index_document","Document":[]}', /\$\.Document: expected an object \(entity\.Document\), got array/],
    ['{"Type":"index_document","Document":{"TableInfo":{"columns":{}}}}', /\$\.Document\.TableInfo\.columns: expected an array, got object/],
    ['{"Type":"index_document","Document":{"IsAppend":"yes"}}', /\$\.Document\.IsAppend: expected true or false, got string "yes"/],
    ['{"Type":"index_slice","Slice":{"RawContent":[{"Image":{"Base64":"!!"}}]}}', /\$\.Slice\.RawContent\[0\]\.Image\.Base64: not standard base64/],
    ['{"Type":"index_slice","Slice":{"RawContent":[{"Table":{"Columns":[{"ValTime":"yesterday"}]}}]}}', /ValTime: "yesterday" is not an RFC 3339 time/],
    ['{"Type":"index_slice","Slice":{"Extra":{"k":1}}}', /\$\.Slice\.Extra\.k: expected a string, got integer 1/],
    ['{"op_type":"created","resource_document":{"res_sub_type":2147483648}}', /res_sub_type: 2147483648 is outside the int32 range/],
    ['{"op_type":"created","extra":[1]}', /\$\.extra: expected an object \(map\[string\]any\), got array/],
  ])("refuses %s with the path of the field", async (json, message) => {
    const codec = json.includes("op_type") ? resourceEventCodec : knowledgeEventCodec;
    let err: unknown;
    try {
      codec.decode(json);
    } catch (e) {
      err = e;
    }
    expect(isCozeStudioError(err, "COZE_PAYLOAD_INVALID")).toBe(true);
    expect((err as Error).message).toMatch(message);
    // Go refuses every one of these too (Coze would retry it forever).
    const [go] = await runGo(["echo", json.includes("op_type") ? "opencoze_search_resource" : "opencoze_knowledge"], {}, [json]);
    expect(go?.error ?? `Go accepted it: ${JSON.stringify(go)}`).toMatch(/cannot unmarshal|illegal|parsing time|overflows|invalid/);
  });

  it("refuses a Go int or enum beyond 2^53, which Go would take (no Coze value comes near it; a number would round it)", async () => {
    const json = '{"Type":"index_document","Document":{"ParsingStrategy":{"header_line":9223372036854775807}}}';
    expect(() => knowledgeEventCodec.decode(json)).toThrow(/\$\.Document\.ParsingStrategy\.header_line: 9223372036854775807 is outside the exact range of a JS number/);
    const [go] = await runGo(["echo", "opencoze_knowledge"], {}, [json]);
    expect(go?.["json"]).toContain('"header_line":9223372036854775807'); // the documented difference
  });

  it("an unknown event type is its own error, not a malformed payload", () => {
    for (const [codec, json, field] of [
      [knowledgeEventCodec, '{"Type":"reindex_everything"}', "Type"],
      [knowledgeEventCodec, "{}", "Type"],
      [resourceEventCodec, '{"op_type":"archived"}', "op_type"],
    ] as const) {
      let err: unknown;
      try {
        codec.decode(json);
      } catch (e) {
        err = e;
      }
      expect(isCozeStudioError(err, "COZE_UNKNOWN_EVENT_TYPE")).toBe(true);
      expect((err as Error).message).toMatch(new RegExp(`^${field} `));
    }
  });

  it("refuses a payload that is not a JSON object", () => {
    for (const json of ["null", "[]", "42", '"x"']) {
      expect(() => knowledgeEventCodec.decode(json)).toThrow(/\$: expected a JSON object \(entity\.Event\)/);
    }
  });
});

describe("encoding", () => {
  it("fills what is left out with Go's zero values, in Go's field order", () => {
    expect(knowledgeEventCodec.encodeToString({ type: "delete_knowledge_data", knowledgeId: 3n, sliceIds: [4n] })).toBe(
      '{"Type":"delete_knowledge_data","Documents":null,"Document":null,"Slice":null,"SliceIDs":[4],"KnowledgeID":3,"DocumentReview":null}',
    );
    expect(resourceEventCodec.encodeToString({ opType: "deleted" })).toBe('{"op_type":"deleted","extra":null}');
  });

  it("builds the events Coze's knowledge service builds", () => {
    const doc = fullDocument(1n, 2n);
    expect(knowledgeEvents.indexDocument(2n, doc)).toEqual({ type: "index_document", knowledgeId: 2n, document: doc });
    expect(knowledgeEvents.indexSlice({ id: 1n }, doc)).toEqual({ type: "index_slice", slice: { id: 1n }, document: doc });
    expect(knowledgeEvents.deleteKnowledgeData(2n, [3n])).toEqual({ type: "delete_knowledge_data", knowledgeId: 2n, sliceIds: [3n] });
    expect(knowledgeEvents.documentReview(doc, { documentName: "d" })).toEqual({ type: "document_review", document: doc, documentReview: { documentName: "d" } });
    const fanned = fanOutIndexDocuments(knowledgeEventCodec.decode(knowledgeEventCodec.encode(knowledgeEvents.indexDocuments(9n, [fullDocument(1n, 9n), fullDocument(2n, 9n)]))));
    expect(fanned.map((f) => [f.event.type, f.event.document?.id, f.shardingKey])).toEqual([
      ["index_document", 1n, "9"],
      ["index_document", 2n, "9"],
    ]);
  });

  it.each<[string, Init<KnowledgeEvent>, RegExp]>([
    ["an unknown type", { type: "reindex" as KnowledgeEvent["type"] }, /\$\.Type: expected one of index_documents, .*, got "reindex"/],
    ["a number for an int64", { type: "index_document", knowledgeId: 5 as unknown as bigint }, /\$\.KnowledgeID: expected a bigint \(Go int64\), got number 5/],
    ["a fraction for an int", { type: "index_document", document: { type: 1.5 } }, /\$\.Document\.Type: expected an integer number \(Go DocumentType\), got number 1.5/],
    ["a string for a bool", { type: "index_document", document: { isAppend: "yes" as unknown as boolean } }, /\$\.Document\.IsAppend: expected a boolean, got string/],
    ["NaN for a float64", { type: "index_slice", slice: { rawContent: [{ table: { columns: [{ valNumber: Number.NaN }] } }] } }, /ValNumber: NaN cannot be written as JSON/],
    ["a bad time", { type: "index_slice", slice: { rawContent: [{ table: { columns: [{ valTime: "2025-13" }] } }] } }, /ValTime: expected an RFC 3339 time string/],
    ["a lone surrogate", { type: "index_document", document: { name: "\ud800" } }, /\$\.Document\.Name: string has an unpaired surrogate/],
    ["a Date in unknownFields", { type: "index_document", unknownFields: { when: new Date() as unknown as null } }, /\$\.when: \[object Date\] is not a JSON value/],
  ])("refuses %s with a PayloadError naming the path", (_what, value, message) => {
    let err: unknown;
    try {
      knowledgeEventCodec.encode(value);
    } catch (e) {
      err = e;
    }
    expect(isCozeStudioError(err, "COZE_PAYLOAD_INVALID")).toBe(true);
    expect((err as Error).message).toMatch(message);
  });

  it("refuses a non-JSON value in extra", () => {
    expect(() => resourceEventCodec.encode({ opType: "created", extra: { f: () => 1 } as never })).toThrow(/\$\.extra\.f: function is not a JSON value/);
    expect(() => resourceEventCodec.encode({ opType: "created", extra: { n: Number.POSITIVE_INFINITY } })).toThrow(/\$\.extra\.n: Infinity cannot be written as JSON/);
  });
});
