/**
 * @cozebus/coze-studio/messages — Coze Studio's topics, message types and
 * their JSON codecs, with no transport: for a bridge, a Pulsar adapter, or
 * tooling that only reads and writes the payloads.
 */
export { parseJson, printJson } from "./json/lossless.js";
export type { JsonValue, JsonObject } from "./json/lossless.js";
export type { Extensible } from "./json/shape.js";
export type { Init, JsonCodec } from "./messages/codec.js";
export {
  KNOWLEDGE_EVENT_TYPES,
  knowledgeEventCodec,
  knowledgeEvents,
  fanOutIndexDocuments,
} from "./messages/knowledge.js";
export type {
  KnowledgeEvent,
  KnowledgeEventType,
  KnowledgeDocument,
  KnowledgeSlice,
  Info,
  ParsingStrategy,
  ChunkingStrategy,
  TableInfo,
  TableColumn,
  SliceContent,
  SliceImage,
  SliceTable,
  ColumnData,
  DocumentReview,
} from "./messages/knowledge.js";
export { OP_TYPES, resourceEventCodec, projectEventCodec } from "./messages/search.js";
export type { OpType, EventMeta, ResourceDocument, ResourceDomainEvent, ProjectDocument, ProjectDomainEvent } from "./messages/search.js";
export { SEARCH_RESOURCE, SEARCH_APP, KNOWLEDGE, COZE_TOPICS } from "./topics.js";
export type { CozeTopic } from "./topics.js";
export {
  CozeStudioError,
  isCozeStudioError,
  JsonSyntaxError,
  PayloadError,
  UnknownEventTypeError,
  NameError,
  BatchSendError,
  DeliveryFailedError,
  EventDroppedError,
  PayloadTooLargeError,
} from "./errors.js";
export type { CozeStudioErrorCode } from "./errors.js";
