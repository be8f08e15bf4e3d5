/** Messages with every field set, and values at the edges of their Go types. */
import type { Init, KnowledgeDocument, KnowledgeEvent, ProjectDomainEvent, ResourceDomainEvent } from "../src/index.js";

export const INT64_MAX = 2n ** 63n - 1n;
export const INT64_MIN = -(2n ** 63n);
/** Above 2^53: JSON.parse would turn it into 9007199254740992. */
export const BIG_ID = 2n ** 53n + 1n;

export const fullDocument = (id: bigint, knowledgeId: bigint): Init<KnowledgeDocument> => ({
  id,
  name: "报告 \"Q3\" <draft> & notes\n\ttabbed \u2028 \u{1F600}",
  description: "d",
  iconUri: "icon/uri",
  iconUrl: "https://example.invalid/i.png",
  creatorId: INT64_MAX,
  spaceId: 7381552069098766336n,
  appId: 0n,
  createdAtMs: 1733000000123n,
  updatedAtMs: 1733000000456n,
  deletedAtMs: -1n,
  knowledgeId,
  type: 1,
  rawContent: "raw",
  uri: "tos://bucket/doc.xlsx",
  url: "https://example.invalid/doc.xlsx",
  size: 123456789012n,
  sliceCount: 3n,
  charCount: 999n,
  fileExtension: "xlsx",
  status: -1,
  statusMsg: "",
  hits: 0n,
  source: 2,
  parsingStrategy: {
    parsingType: 1,
    extractImage: true,
    extractTable: false,
    imageOcr: true,
    filterPages: [1, 3, 5],
    sheetId: INT64_MIN,
    headerLine: 0,
    dataStartLine: 1,
    rowsCount: 100,
    captionType: 1,
  },
  chunkingStrategy: { chunkType: 2, chunkSize: 800n, separator: "\n\n", overlap: 10n, trimSpace: true, trimUrlAndEmail: true, maxDepth: 3n, saveTitle: true },
  tableInfo: {
    virtualTableName: "v",
    physicalTableName: "p",
    tableDesc: "t",
    columns: [{ id: BIG_ID, name: "c1", type: 2, description: "", indexing: true, sequence: 0n }, null],
  },
  isAppend: true,
});

export const fullKnowledgeEvents = (): Array<Init<KnowledgeEvent>> => [
  { type: "index_documents", knowledgeId: BIG_ID, documents: [fullDocument(BIG_ID + 1n, BIG_ID), null, fullDocument(INT64_MAX, BIG_ID)] },
  { type: "index_document", knowledgeId: BIG_ID, document: fullDocument(BIG_ID + 2n, BIG_ID) },
  {
    type: "index_slice",
    document: fullDocument(5n, 6n),
    slice: {
      id: INT64_MAX,
      name: "s",
      knowledgeId: 6n,
      documentId: 5n,
      documentName: "doc",
      rawContent: [
        { type: 0, text: "hello" },
        { type: 1, image: { base64: new Uint8Array([0, 1, 2, 250, 255]), uri: "img", ocr: true, ocrText: "ocr" } },
        {
          type: 2,
          table: {
            columns: [
              { columnId: 1n, columnName: "s", type: 1, valString: "x" },
              { columnId: 2n, columnName: "i", type: 2, valInteger: INT64_MIN },
              { columnId: 3n, columnName: "t", type: 3, valTime: "2025-06-01T10:20:30.123456789+08:00" },
              { columnId: 4n, columnName: "n", type: 4, valNumber: 0.1 },
              { columnId: 5n, columnName: "b", type: 5, valBoolean: false },
              { columnId: 6n, columnName: "img", type: 6, valImage: "data:" },
              null,
            ],
          },
        },
        null,
      ],
      sliceStatus: 1,
      byteCount: 10n,
      charCount: 5n,
      sequence: 2n,
      hit: 0n,
      extra: { k: "v", "": "empty key" },
    },
  },
  { type: "delete_knowledge_data", knowledgeId: BIG_ID, sliceIds: [BIG_ID, INT64_MAX, INT64_MIN, 0n] },
  { type: "delete_knowledge_data", knowledgeId: 1n, sliceIds: [] },
  {
    type: "document_review",
    document: { id: 1n, name: "n", creatorId: 2n },
    documentReview: { reviewId: BIG_ID, documentName: "n", documentType: "pdf", uri: "u", url: "l", status: 0, docTreeTosUrl: "t", previewTosUrl: "p" },
  },
];

export const fullResourceEvents = (): Array<Init<ResourceDomainEvent>> => [
  {
    opType: "created",
    resourceDocument: {
      resId: BIG_ID,
      resType: 4,
      resSubType: 2147483647,
      name: "kb",
      ownerId: INT64_MAX,
      spaceId: 0n, // a pointer to 0 is not empty: Go writes it
      appId: 3n,
      bizStatus: 1n,
      publishStatus: 2,
      createTimeMs: 1n,
      updateTimeMs: 2n,
      publishTimeMs: 3n,
    },
    meta: { sendTimeMs: 1733000000000n, receiveTimeMs: 0n },
    // Go holds map[string]any numbers as float64: integers here stay below 2^53 so Go writes them back unchanged (see the codec test for one above).
    extra: { n: 1n, f: 2.5, s: "x", b: true, z: null, a: [1n, "y"], o: { deep: 5n } },
  },
  { opType: "deleted", resourceDocument: { resId: 1n, resType: 1 } },
];

export const fullProjectEvents = (): Array<Init<ProjectDomainEvent>> => [
  {
    opType: "updated",
    projectDocument: {
      id: BIG_ID,
      type: 2,
      status: 1,
      name: "app",
      spaceId: 1n,
      ownerId: 2n,
      hasPublished: 1,
      createTimeMs: 3n,
      updateTimeMs: 4n,
      publishTimeMs: 5n,
      recentlyOpenTimeMs: 6n,
      favTimeMs: 7n,
      isFav: 0,
      isRecentlyOpen: 1,
    },
    meta: { sendTimeMs: 9n, receiveTimeMs: 10n },
    extra: {},
  },
  { opType: "deleted", projectDocument: { id: 1n, type: 1 } }, // status 0: left out, as omitempty does
];
