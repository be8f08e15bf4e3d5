/**
 * The search index events: `opencoze_search_resource` carries Coze's Go
 * `entity.ResourceDomainEvent` (backend/domain/search/entity/resources_event.go,
 * document: crossdomain/search/model.ResourceDocument) and
 * `opencoze_search_app` carries `entity.ProjectDomainEvent`
 * (project_event.go, project_doc.go). These structs have snake_case JSON
 * tags, most with omitempty; `extra` is Go's map[string]any, kept here as
 * JSON (integers as bigint).
 */
import { eventType, field, int64, intNumber, jsonObject, pointer, string, struct, type Extensible } from "../json/shape.js";
import type { JsonObject } from "../json/lossless.js";
import { jsonCodec, type JsonCodec } from "./codec.js";

/** entity.OpType. */
export const OP_TYPES = ["created", "updated", "deleted"] as const;
export type OpType = (typeof OP_TYPES)[number];

/** entity.EventMeta: Coze sets sendTimeMs when publishing and receiveTimeMs when handling. */
export interface EventMeta extends Extensible {
  readonly sendTimeMs: bigint;
  readonly receiveTimeMs: bigint;
}

const eventMeta = struct<EventMeta>("entity.EventMeta", {
  sendTimeMs: field("send_time_ms", int64),
  receiveTimeMs: field("receive_time_ms", int64),
});

/** model.ResourceDocument: a plugin, workflow, knowledge base, prompt, database... as the resource search index holds it. */
export interface ResourceDocument extends Extensible {
  readonly resId: bigint;
  /** resource.ResType: 1 plugin, 2 workflow, 3 imageflow, 4 knowledge, 5 UI, 6 prompt, 7 database, 8 variable, 9 voice. */
  readonly resType: number;
  readonly resSubType?: number;
  readonly name?: string;
  readonly ownerId?: bigint;
  readonly spaceId?: bigint;
  readonly appId?: bigint;
  readonly bizStatus?: bigint;
  /** resource.PublishStatus: 1 unpublished, 2 published. */
  readonly publishStatus?: number;
  readonly createTimeMs?: bigint;
  readonly updateTimeMs?: bigint;
  readonly publishTimeMs?: bigint;
}

const omit = { omitEmpty: true } as const;

const resourceDocument = struct<ResourceDocument>("model.ResourceDocument", {
  resId: field("res_id", int64),
  resType: field("res_type", intNumber(64, "ResType")),
  resSubType: field("res_sub_type", pointer(intNumber(32, "int32")), omit),
  name: field("name", pointer(string), omit),
  ownerId: field("owner_id", pointer(int64), omit),
  spaceId: field("space_id", pointer(int64), omit),
  appId: field("app_id", pointer(int64), omit),
  bizStatus: field("biz_status", pointer(int64), omit),
  publishStatus: field("publish_status", pointer(intNumber(64, "PublishStatus")), omit),
  createTimeMs: field("create_time", pointer(int64), omit),
  updateTimeMs: field("update_time", pointer(int64), omit),
  publishTimeMs: field("publish_time", pointer(int64), omit),
});

/** entity.ResourceDomainEvent on `opencoze_search_resource`. */
export interface ResourceDomainEvent extends Extensible {
  readonly opType: OpType;
  readonly resourceDocument?: ResourceDocument;
  readonly meta?: EventMeta;
  /** map[string]any; Go writes null when it is nil. */
  readonly extra?: JsonObject;
}

const resourceEvent = struct<ResourceDomainEvent>("entity.ResourceDomainEvent", {
  opType: field("op_type", eventType("op_type", OP_TYPES)),
  resourceDocument: field("resource_document", pointer(resourceDocument), omit),
  meta: field("meta", pointer(eventMeta), omit),
  extra: field("extra", jsonObject),
});

/** model.ProjectDocument: an agent (bot) or app (project) as the app search index holds it. */
export interface ProjectDocument extends Extensible {
  readonly id: bigint;
  /** common.IntelligenceType: 1 bot, 2 project. */
  readonly type: number;
  /** common.IntelligenceStatus: 1 using, 2 deleted, 3 banned, 4 move failed, 5 copying, 6 copy failed; 0 is left out (omitempty). */
  readonly status: number;
  readonly name?: string;
  readonly spaceId?: bigint;
  readonly ownerId?: bigint;
  /** Go *int: 0 or 1. */
  readonly hasPublished?: number;
  readonly createTimeMs?: bigint;
  readonly updateTimeMs?: bigint;
  readonly publishTimeMs?: bigint;
  readonly recentlyOpenTimeMs?: bigint;
  readonly favTimeMs?: bigint;
  readonly isFav?: number;
  readonly isRecentlyOpen?: number;
}

const goInt = intNumber(64, "int");

const projectDocument = struct<ProjectDocument>("entity.ProjectDocument", {
  id: field("id", int64),
  type: field("type", intNumber(64, "IntelligenceType")),
  status: field("status", intNumber(64, "IntelligenceStatus"), omit),
  name: field("name", pointer(string), omit),
  spaceId: field("space_id", pointer(int64), omit),
  ownerId: field("owner_id", pointer(int64), omit),
  hasPublished: field("has_published", pointer(goInt), omit),
  createTimeMs: field("create_time", pointer(int64), omit),
  updateTimeMs: field("update_time", pointer(int64), omit),
  publishTimeMs: field("publish_time", pointer(int64), omit),
  recentlyOpenTimeMs: field("recently_open_time", pointer(int64), omit),
  favTimeMs: field("fav_time", pointer(int64), omit),
  isFav: field("is_fav", pointer(goInt), omit),
  isRecentlyOpen: field("is_recently_open", pointer(goInt), omit),
});

/** entity.ProjectDomainEvent on `opencoze_search_app`. */
export interface ProjectDomainEvent extends Extensible {
  readonly opType: OpType;
  readonly projectDocument?: ProjectDocument;
  readonly meta?: EventMeta;
  readonly extra?: JsonObject;
}

const projectEvent = struct<ProjectDomainEvent>("entity.ProjectDomainEvent", {
  opType: field("op_type", eventType("op_type", OP_TYPES)),
  projectDocument: field("project_document", pointer(projectDocument), omit),
  meta: field("meta", pointer(eventMeta), omit),
  extra: field("extra", jsonObject),
});

export const resourceEventCodec: JsonCodec<ResourceDomainEvent> = jsonCodec("entity.ResourceDomainEvent", resourceEvent);
export const projectEventCodec: JsonCodec<ProjectDomainEvent> = jsonCodec("entity.ProjectDomainEvent", projectEvent);
