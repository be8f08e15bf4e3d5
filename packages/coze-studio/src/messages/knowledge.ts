/**
 * The knowledge pipeline's event on topic `opencoze_knowledge`: Coze's Go
 * `entity.Event` (backend/domain/knowledge/entity/event.go) and the structs
 * it carries. The Go fields have no JSON tags, so the keys are the Go field
 * names (PascalCase); the strategies and TableInfo do have snake_case tags.
 *
 * Types follow one rule: Go int64 -> bigint (ids, times in ms, counts: exact
 * beyond 2^53); named int64 enums (DocumentType, DocumentStatus, ...) and Go
 * int/int32 -> number; pointers and slices -> optional (absent = nil = null).
 */
import {
  bool,
  bytes,
  eventType,
  field,
  float64,
  int64,
  intNumber,
  nullable,
  pointer,
  slice,
  string,
  stringMap,
  struct,
  time,
  type Extensible,
} from "../json/shape.js";
import { jsonCodec, type Init, type JsonCodec } from "./codec.js";

/** The five knowledge event types Coze's handler knows (entity.EventType). */
export const KNOWLEDGE_EVENT_TYPES = ["index_documents", "index_document", "index_slice", "delete_knowledge_data", "document_review"] as const;
export type KnowledgeEventType = (typeof KNOWLEDGE_EVENT_TYPES)[number];

const enumNumber = (goType: string) => intNumber(64, goType);
const goInt = intNumber(64, "int");

/** entity.ParsingStrategy (JSON tags: snake_case). */
export interface ParsingStrategy extends Extensible {
  /** ParsingType: 0 fast, 1 accurate. */
  readonly parsingType: number;
  readonly extractImage: boolean;
  readonly extractTable: boolean;
  readonly imageOcr: boolean;
  readonly filterPages?: readonly number[];
  readonly sheetId: bigint;
  readonly headerLine: number;
  readonly dataStartLine: number;
  readonly rowsCount: number;
  /** ImageAnnotationType: 0 model, 1 manual. */
  readonly captionType?: number;
}

const parsingStrategy = struct<ParsingStrategy>("entity.ParsingStrategy", {
  parsingType: field("parsing_type", enumNumber("ParsingType")),
  extractImage: field("extract_image", bool),
  extractTable: field("extract_table", bool),
  imageOcr: field("image_ocr", bool),
  filterPages: field("filter_pages", slice(goInt)),
  sheetId: field("sheet_id", int64),
  headerLine: field("header_line", goInt),
  dataStartLine: field("data_start_line", goInt),
  rowsCount: field("rows_count", goInt),
  captionType: field("caption_type", pointer(enumNumber("ImageAnnotationType"))),
});

/** entity.ChunkingStrategy (JSON tags: snake_case). */
export interface ChunkingStrategy extends Extensible {
  /** parser.ChunkType: 0 default, 1 custom, 2 leveled. */
  readonly chunkType: number;
  readonly chunkSize: bigint;
  readonly separator: string;
  readonly overlap: bigint;
  readonly trimSpace: boolean;
  readonly trimUrlAndEmail: boolean;
  readonly maxDepth: bigint;
  readonly saveTitle: boolean;
}

const chunkingStrategy = struct<ChunkingStrategy>("entity.ChunkingStrategy", {
  chunkType: field("chunk_type", enumNumber("ChunkType")),
  chunkSize: field("chunk_size", int64),
  separator: field("separator", string),
  overlap: field("overlap", int64),
  trimSpace: field("trim_space", bool),
  trimUrlAndEmail: field("trim_url_and_email", bool),
  maxDepth: field("max_depth", int64),
  saveTitle: field("save_title", bool),
});

/** entity.TableColumn. */
export interface TableColumn extends Extensible {
  readonly id: bigint;
  readonly name: string;
  /** document.TableColumnType (Go int): 1 string, 2 integer, 3 time, 4 number, 5 boolean, 6 image. */
  readonly type: number;
  readonly description: string;
  readonly indexing: boolean;
  readonly sequence: bigint;
}

const tableColumn = struct<TableColumn>("entity.TableColumn", {
  id: field("ID", int64),
  name: field("Name", string),
  type: field("Type", intNumber(64, "TableColumnType")),
  description: field("Description", string),
  indexing: field("Indexing", bool),
  sequence: field("Sequence", int64),
});

/** entity.TableInfo (JSON tags: snake_case). A value, not a pointer: always present. */
export interface TableInfo extends Extensible {
  readonly virtualTableName: string;
  readonly physicalTableName: string;
  readonly tableDesc: string;
  readonly columns?: readonly (TableColumn | null)[];
}

const tableInfo = struct<TableInfo>("entity.TableInfo", {
  virtualTableName: field("virtual_table_name", string),
  physicalTableName: field("physical_table_name", string),
  tableDesc: field("table_desc", string),
  columns: field("columns", slice(nullable(tableColumn))),
});

/** The fields of model.Info, which Document and Slice embed (Go promotes them to the outer JSON object). */
export interface Info {
  readonly id: bigint;
  readonly name: string;
  readonly description: string;
  readonly iconUri: string;
  readonly iconUrl: string;
  readonly creatorId: bigint;
  readonly spaceId: bigint;
  readonly appId: bigint;
  readonly createdAtMs: bigint;
  readonly updatedAtMs: bigint;
  readonly deletedAtMs: bigint;
}

const info = {
  id: field("ID", int64),
  name: field("Name", string),
  description: field("Description", string),
  iconUri: field("IconURI", string),
  iconUrl: field("IconURL", string),
  creatorId: field("CreatorID", int64),
  spaceId: field("SpaceID", int64),
  appId: field("AppID", int64),
  createdAtMs: field("CreatedAtMs", int64),
  updatedAtMs: field("UpdatedAtMs", int64),
  deletedAtMs: field("DeletedAtMs", int64),
};

/** entity.Document. */
export interface KnowledgeDocument extends Info, Extensible {
  readonly knowledgeId: bigint;
  /** model.DocumentType: 0 text, 1 table, 2 image, 9 unknown. */
  readonly type: number;
  readonly rawContent: string;
  readonly uri: string;
  readonly url: string;
  readonly size: bigint;
  readonly sliceCount: bigint;
  readonly charCount: bigint;
  /** parser.FileExtension: pdf, txt, doc, docx, md, csv, xlsx, json, json_maps, jpg, jpeg, png. */
  readonly fileExtension: string;
  /** entity.DocumentStatus: -1 init, 0 uploading, 1 enable, 2 disable, 3 deleted, 4 chunking, 9 failed. */
  readonly status: number;
  readonly statusMsg: string;
  readonly hits: bigint;
  /** entity.DocumentSource: 0 local upload, 2 custom text. */
  readonly source: number;
  readonly parsingStrategy?: ParsingStrategy;
  readonly chunkingStrategy?: ChunkingStrategy;
  readonly tableInfo: TableInfo;
  readonly isAppend: boolean;
}

const documentShape = struct<KnowledgeDocument>("entity.Document", {
  ...info,
  knowledgeId: field("KnowledgeID", int64),
  type: field("Type", enumNumber("DocumentType")),
  rawContent: field("RawContent", string),
  uri: field("URI", string),
  url: field("URL", string),
  size: field("Size", int64),
  sliceCount: field("SliceCount", int64),
  charCount: field("CharCount", int64),
  fileExtension: field("FileExtension", string),
  status: field("Status", enumNumber("DocumentStatus")),
  statusMsg: field("StatusMsg", string),
  hits: field("Hits", int64),
  source: field("Source", enumNumber("DocumentSource")),
  parsingStrategy: field("ParsingStrategy", pointer(parsingStrategy)),
  chunkingStrategy: field("ChunkingStrategy", pointer(chunkingStrategy)),
  tableInfo: field("TableInfo", tableInfo),
  isAppend: field("IsAppend", bool),
});

/** document.ColumnData: one cell of a table slice. */
export interface ColumnData extends Extensible {
  readonly columnId: bigint;
  readonly columnName: string;
  /** document.TableColumnType (Go int). */
  readonly type: number;
  readonly valString?: string;
  readonly valInteger?: bigint;
  /** RFC 3339, as Go writes time.Time (kept as text: nanoseconds and the offset survive). */
  readonly valTime?: string;
  readonly valNumber?: number;
  readonly valBoolean?: boolean;
  /** base64 or a URL. */
  readonly valImage?: string;
}

const columnData = struct<ColumnData>("document.ColumnData", {
  columnId: field("ColumnID", int64),
  columnName: field("ColumnName", string),
  type: field("Type", intNumber(64, "TableColumnType")),
  valString: field("ValString", pointer(string)),
  valInteger: field("ValInteger", pointer(int64)),
  valTime: field("ValTime", pointer(time)),
  valNumber: field("ValNumber", pointer(float64)),
  valBoolean: field("ValBoolean", pointer(bool)),
  valImage: field("ValImage", pointer(string)),
});

/** model.SliceImage. */
export interface SliceImage extends Extensible {
  /** Go []byte: base64 in JSON. */
  readonly base64?: Uint8Array;
  readonly uri: string;
  readonly ocr: boolean;
  readonly ocrText?: string;
}

const sliceImage = struct<SliceImage>("model.SliceImage", {
  base64: field("Base64", bytes),
  uri: field("URI", string),
  ocr: field("OCR", bool),
  ocrText: field("OCRText", pointer(string)),
});

/** model.SliceTable: one table row. */
export interface SliceTable extends Extensible {
  readonly columns?: readonly (ColumnData | null)[];
}

const sliceTable = struct<SliceTable>("model.SliceTable", {
  columns: field("Columns", slice(nullable(columnData))),
});

/** model.SliceContent. */
export interface SliceContent extends Extensible {
  /** model.SliceContentType: 0 text, 2 table. */
  readonly type: number;
  readonly text?: string;
  readonly image?: SliceImage;
  readonly table?: SliceTable;
}

const sliceContent = struct<SliceContent>("model.SliceContent", {
  type: field("Type", enumNumber("SliceContentType")),
  text: field("Text", pointer(string)),
  image: field("Image", pointer(sliceImage)),
  table: field("Table", pointer(sliceTable)),
});

/** model.Slice (entity.Slice is an alias of it). */
export interface KnowledgeSlice extends Info, Extensible {
  readonly knowledgeId: bigint;
  readonly documentId: bigint;
  readonly documentName: string;
  readonly rawContent?: readonly (SliceContent | null)[];
  /** model.SliceStatus: 0 init, 1 stored, 9 failed. */
  readonly sliceStatus: number;
  readonly byteCount: bigint;
  readonly charCount: bigint;
  readonly sequence: bigint;
  readonly hit: bigint;
  readonly extra?: Readonly<Record<string, string>>;
}

const sliceShape = struct<KnowledgeSlice>("model.Slice", {
  ...info,
  knowledgeId: field("KnowledgeID", int64),
  documentId: field("DocumentID", int64),
  documentName: field("DocumentName", string),
  rawContent: field("RawContent", slice(nullable(sliceContent))),
  sliceStatus: field("SliceStatus", enumNumber("SliceStatus")),
  byteCount: field("ByteCount", int64),
  charCount: field("CharCount", int64),
  sequence: field("Sequence", int64),
  hit: field("Hit", int64),
  extra: field("Extra", stringMap),
});

/** entity.Review. */
export interface DocumentReview extends Extensible {
  readonly reviewId?: bigint;
  readonly documentName: string;
  readonly documentType: string;
  readonly uri: string;
  readonly url: string;
  /** entity.ReviewStatus: 0 processing, 1 enable, 2 failed, 3 force stop. */
  readonly status?: number;
  readonly docTreeTosUrl?: string;
  readonly previewTosUrl?: string;
}

const review = struct<DocumentReview>("entity.Review", {
  reviewId: field("ReviewID", pointer(int64)),
  documentName: field("DocumentName", string),
  documentType: field("DocumentType", string),
  uri: field("Uri", string),
  url: field("Url", string),
  status: field("Status", pointer(enumNumber("ReviewStatus"))),
  docTreeTosUrl: field("DocTreeTosUrl", pointer(string)),
  previewTosUrl: field("PreviewTosUrl", pointer(string)),
});

/**
 * entity.Event: every knowledge event has all these fields; which ones
 * matter depends on `type` (Coze's handler reads):
 *
 * - `index_documents`: `documents` (fanned out into one `index_document` each, sharding key = knowledge id)
 * - `index_document`: `document` (and `knowledgeId`)
 * - `index_slice`: `slice` and `document`
 * - `delete_knowledge_data`: `knowledgeId` and `sliceIds`
 * - `document_review`: `document` and `documentReview`
 */
export interface KnowledgeEvent extends Extensible {
  readonly type: KnowledgeEventType;
  readonly documents?: readonly (KnowledgeDocument | null)[];
  readonly document?: KnowledgeDocument;
  readonly slice?: KnowledgeSlice;
  readonly sliceIds?: readonly bigint[];
  readonly knowledgeId: bigint;
  readonly documentReview?: DocumentReview;
}

const knowledgeEvent = struct<KnowledgeEvent>("entity.Event", {
  type: field("Type", eventType("Type", KNOWLEDGE_EVENT_TYPES)),
  documents: field("Documents", slice(nullable(documentShape))),
  document: field("Document", pointer(documentShape)),
  slice: field("Slice", pointer(sliceShape)),
  sliceIds: field("SliceIDs", slice(int64)),
  knowledgeId: field("KnowledgeID", int64),
  documentReview: field("DocumentReview", pointer(review)),
});

/** JSON of `entity.Event`, exactly as Coze's Go code writes and reads it. */
export const knowledgeEventCodec: JsonCodec<KnowledgeEvent> = jsonCodec("entity.Event", knowledgeEvent);

/**
 * The events Coze's knowledge service builds (backend/domain/knowledge/internal/events),
 * with the same fields set. Pass the result to a knowledge producer.
 */
export const knowledgeEvents = {
  indexDocuments: (knowledgeId: bigint, documents: readonly Init<KnowledgeDocument>[]): Init<KnowledgeEvent> => ({ type: "index_documents", knowledgeId, documents }),
  indexDocument: (knowledgeId: bigint, document: Init<KnowledgeDocument>): Init<KnowledgeEvent> => ({ type: "index_document", knowledgeId, document }),
  indexSlice: (slice: Init<KnowledgeSlice>, document: Init<KnowledgeDocument>): Init<KnowledgeEvent> => ({ type: "index_slice", slice, document }),
  deleteKnowledgeData: (knowledgeId: bigint, sliceIds: readonly bigint[]): Init<KnowledgeEvent> => ({ type: "delete_knowledge_data", knowledgeId, sliceIds }),
  documentReview: (document: Init<KnowledgeDocument>, documentReview: Init<DocumentReview>): Init<KnowledgeEvent> => ({ type: "document_review", document, documentReview }),
} as const;

/**
 * The fan-out Coze's handler does for `index_documents`: one
 * `index_document` per non-nil document, keyed by the document's own
 * knowledge id. Send each with its sharding key; unlike Coze's Go producer,
 * cozebus gives every message its own id, so none is dropped as a duplicate.
 */
export function fanOutIndexDocuments(event: KnowledgeEvent): Array<{ readonly event: Init<KnowledgeEvent>; readonly shardingKey: string }> {
  return (event.documents ?? [])
    .filter((d): d is KnowledgeDocument => d !== null)
    .map((d) => ({ event: knowledgeEvents.indexDocument(d.knowledgeId, d), shardingKey: d.knowledgeId.toString() }));
}
