import { create, createFileRegistry, getOption, hasOption, ScalarType, type DescExtension, type DescField, type DescFile, type DescMessage, type DescMethod, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { getComments } from "@bufbuild/protoplugin";
import type { DomainModel, EventModel, FieldModel, OperationModel, QualityOfService, SchemaProblem } from "./model.js";
import { collide, example, parseTemplate, type TemplateToken } from "./validate.js";

/** `qos` (coze.eventbus.v1.QualityOfService): value -> proto name and meaning. */
const QOS: Record<number, { name: string; qos: QualityOfService } | undefined> = {
  1: { name: "QUALITY_OF_SERVICE_AT_MOST_ONCE", qos: "at-most-once" },
  2: { name: "QUALITY_OF_SERVICE_AT_LEAST_ONCE", qos: "at-least-once" },
};
/** The deprecated `delivery` (coze.eventbus.v1.Delivery): value -> proto name and the quality of service it stands for. */
const DELIVERY: Record<number, { name: string; qos: QualityOfService } | undefined> = {
  1: { name: "DELIVERY_CORE", qos: "at-most-once" },
  2: { name: "DELIVERY_JETSTREAM", qos: "at-least-once" },
};
const QOS_LINE = (q: QualityOfService): string => `qos: ${q === "at-most-once" ? QOS[1]!.name : QOS[2]!.name}`;
const CHOOSE = `${QOS_LINE("at-least-once")} (stored, acknowledged, retried) or ${QOS_LINE("at-most-once")} (live subscribers only)`;

/**
 * The event's quality of service from its options: `qos` when set; else the
 * deprecated `delivery`, mapped, with a warning that names the line to write
 * instead (so schemas written before qos still build). Both set and
 * disagreeing, neither set, or an unknown value: a problem.
 */
function readQos(opt: { qos: number; delivery: number }, where: Omit<SchemaProblem, "message">, problems: SchemaProblem[], warnings: SchemaProblem[]): QualityOfService | undefined {
  const qos = QOS[opt.qos];
  const delivery = DELIVERY[opt.delivery];
  if (opt.qos !== 0 && qos === undefined) {
    problems.push({ ...where, message: `qos has the unknown value ${opt.qos}; set ${CHOOSE}` });
    return undefined;
  }
  if (opt.delivery !== 0 && delivery === undefined) {
    problems.push({
      ...where,
      message: `the deprecated delivery has the unknown value ${opt.delivery}; ${qos === undefined ? `replace it with ${CHOOSE}` : `remove it (${QOS_LINE(qos.qos)} says the quality of service)`}`,
    });
    return undefined;
  }
  if (qos === undefined && delivery === undefined) {
    problems.push({ ...where, message: `qos is not set; set ${CHOOSE}` });
    return undefined;
  }
  if (qos !== undefined && delivery !== undefined) {
    if (qos.qos !== delivery.qos) {
      problems.push({
        ...where,
        message: `qos: ${qos.name} (${qos.qos}) and the deprecated delivery: ${delivery.name} (${delivery.qos}) disagree; keep the qos you mean and remove the delivery line`,
      });
      return undefined;
    }
    warnings.push({ ...where, message: `delivery is deprecated and repeats qos: remove the line "delivery: ${delivery.name}"` });
    return qos.qos;
  }
  if (delivery !== undefined) {
    warnings.push({
      ...where,
      message: `delivery is deprecated; replace "delivery: ${delivery.name}" with "${QOS_LINE(delivery.qos)}" (the same quality of service, ${delivery.qos})`,
    });
    return delivery.qos;
  }
  return qos!.qos;
}
const SUBJECT_SCALARS = new Set<ScalarType>([
  ScalarType.STRING,
  ScalarType.INT32,
  ScalarType.INT64,
  ScalarType.UINT32,
  ScalarType.UINT64,
  ScalarType.SINT32,
  ScalarType.SINT64,
  ScalarType.FIXED32,
  ScalarType.FIXED64,
  ScalarType.SFIXED32,
  ScalarType.SFIXED64,
]);

function comment(desc: DescMessage | DescField | DescMethod): string {
  return (getComments(desc).leading ?? "").trim().replace(/\s+/g, " ");
}

// The options' extensions are only known at run time (read from the request), so their
// value types are not either: these two helpers hold the single unchecked step.
function has(element: DescMessage | DescMethod, ext: DescExtension): boolean {
  return hasOption(element as never, ext as never);
}
function option<T>(element: DescMessage | DescMethod, ext: DescExtension): T {
  return getOption(element as never, ext as never);
}

const lowerFirst = (s: string): string => s.charAt(0).toLowerCase() + s.slice(1);
const pascal = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

function typeName(f: DescField): string {
  switch (f.fieldKind) {
    case "scalar":
      return ScalarType[f.scalar].toLowerCase();
    case "enum":
      return f.enum.typeName;
    case "message":
      return f.message.typeName;
    case "list":
      return `repeated ${f.listKind === "scalar" ? ScalarType[f.scalar].toLowerCase() : f.listKind === "enum" ? f.enum.typeName : f.message.typeName}`;
    case "map":
      return `map<${ScalarType[f.mapKey].toLowerCase()}, ${f.mapKind === "scalar" ? ScalarType[f.scalar].toLowerCase() : f.mapKind === "enum" ? f.enum.typeName : f.message.typeName}>`;
  }
}

function fieldModel(f: DescField): FieldModel {
  return { name: f.name, prop: f.jsonName, type: typeName(f), description: comment(f) };
}

/** Checks that a {field} can carry a subject token: a singular string or integer, always present. */
function subjectField(message: DescMessage, name: string, where: Omit<SchemaProblem, "message">, problems: SchemaProblem[]): FieldModel | undefined {
  const f = message.fields.find((x) => x.name === name);
  const fix = "subject fields must be singular string or integer fields of the message";
  if (f === undefined) {
    problems.push({ ...where, message: `subject field {${name}} is not a field of ${message.typeName}; ${fix}` });
    return undefined;
  }
  let why: string | undefined;
  if (f.fieldKind === "list") why = "is repeated";
  else if (f.fieldKind === "map") why = "is a map";
  else if (f.fieldKind === "message") why = "is a message";
  else if (f.fieldKind === "enum") why = "is an enum";
  else if (f.oneof !== undefined && !f.proto.proto3Optional) why = `is in the oneof ${f.oneof.name}`;
  else if (f.proto.proto3Optional) why = "is optional (it may be absent)";
  else if (!SUBJECT_SCALARS.has(f.scalar)) why = `is ${ScalarType[f.scalar].toLowerCase()}`;
  if (why !== undefined) {
    problems.push({ ...where, message: `subject field {${name}} ${why}; ${fix}` });
    return undefined;
  }
  return fieldModel(f);
}

interface Located {
  readonly tokens: TemplateToken[];
  readonly subject: string;
  readonly where: Omit<SchemaProblem, "message">;
}

function moduleOf(file: DescFile): string {
  return `./${file.name}.js`;
}

/**
 * Reads every file to generate, groups it by domain (`coze.<domain>.v1`),
 * and validates every template. Returns the models, all problems found
 * (not just the first) and the warnings: what builds but should change
 * (the deprecated `delivery` option).
 */
export function readSchemas(
  files: readonly FileDescriptorProto[],
  toGenerate: readonly string[],
): { domains: DomainModel[]; problems: SchemaProblem[]; warnings: SchemaProblem[] } {
  const registry: FileRegistry = createFileRegistry(create(FileDescriptorSetSchema, { file: [...files] }));
  const eventExt = registry.getExtension("coze.eventbus.v1.event");
  const opExt = registry.getExtension("coze.eventbus.v1.operation");
  const problems: SchemaProblem[] = [];
  const warnings: SchemaProblem[] = [];
  if (!eventExt || !opExt) {
    problems.push({ file: "coze/eventbus/v1/options.proto", element: "options", message: "the cozebus options are missing: import coze/eventbus/v1/options.proto" });
    return { domains: [], problems, warnings };
  }
  const byDomain = new Map<string, { pkg: string; files: string[]; events: EventModel[]; operations: OperationModel[] }>();
  const located: Located[] = [];

  for (const name of [...toGenerate].sort()) {
    const file = registry.getFile(name);
    if (file === undefined) continue;
    const m = /^coze\.([a-z][a-z0-9_]*)\.v\d+$/.exec(file.proto.package);
    if (!m) {
      if (file.messages.some((msg) => has(msg, eventExt))) {
        problems.push({ file: name, element: file.proto.package, message: 'events must live in a package named "coze.<domain>.v<N>"' });
      }
      continue;
    }
    const domain = m[1]!;
    const d = byDomain.get(domain) ?? { pkg: file.proto.package, files: [], events: [], operations: [] };
    byDomain.set(domain, d);
    d.files.push(name);
    const domainPascal = domain.split("_").map(pascal).join("");

    for (const msg of file.messages) {
      if (!has(msg, eventExt)) continue;
      // An options.proto older than qos has no such field: it reads as not set.
      const opt = option<{ subject: string; delivery: number; qos?: number }>(msg, eventExt);
      const where = { file: name, element: msg.typeName };
      const qos = readQos({ qos: opt.qos ?? 0, delivery: opt.delivery }, where, problems, warnings);
      const tokens = parseTemplate(opt.subject, where, problems);
      if (tokens === undefined || qos === undefined) continue;
      if (!checkRoot(tokens, domain, opt.subject, where, problems)) continue;
      const subjectFields = tokens.flatMap((t) => ("field" in t ? [subjectField(msg, t.field, where, problems)] : []));
      if (subjectFields.some((f) => f === undefined)) continue;
      // Comments become the generated docs and catalogues: an undocumented event or field is a schema problem.
      if (comment(msg) === "") problems.push({ ...where, message: "has no comment; describe when the event happens (comments become the generated docs)" });
      for (const f of msg.fields) {
        if (comment(f) === "") problems.push({ ...where, message: `field ${f.name} has no comment; describe it (comments become the generated docs)` });
      }
      const key = lowerFirst(msg.name.startsWith(domainPascal) && msg.name.length > domainPascal.length ? msg.name.slice(domainPascal.length) : msg.name);
      d.events.push({
        key,
        type: msg.typeName,
        tsName: msg.name,
        module: moduleOf(file),
        subject: opt.subject,
        subjectFields: subjectFields as FieldModel[],
        qos,
        description: comment(msg),
        fields: msg.fields.map(fieldModel),
        file: name,
      });
      located.push({ tokens, subject: opt.subject, where });
    }

    for (const service of file.services) {
      for (const method of service.methods) {
        if (!has(method, opExt)) continue;
        readOperation(method, opExt, domain, name, d, located, problems);
      }
    }
  }

  // Keys are the client's property names: they must be unique within a domain.
  for (const [domain, d] of byDomain) {
    const seen = new Map<string, string>();
    for (const { key, type } of [...d.events.map((e) => ({ key: e.key, type: e.type })), ...d.operations.map((o) => ({ key: o.key, type: o.method }))]) {
      const other = seen.get(key);
      if (other !== undefined) problems.push({ file: domain, element: type, message: `its client name "${key}" is also ${other}'s; rename one of them` });
      seen.set(key, type);
    }
  }
  // No two templates (events or operations, any domain) may be able to produce one subject.
  for (let i = 0; i < located.length; i++) {
    for (let j = i + 1; j < located.length; j++) {
      const a = located[i]!;
      const b = located[j]!;
      if (collide(a.tokens, b.tokens)) {
        problems.push({
          ...b.where,
          message: `subject ${JSON.stringify(b.subject)} collides with ${a.where.element} (${JSON.stringify(a.subject)}): both can produce "${example(a.tokens, b.tokens)}"; make a literal token differ`,
        });
      }
    }
  }

  const domains = [...byDomain.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, d]) => ({ name, protoPackage: d.pkg, files: d.files, events: d.events, operations: d.operations }));
  return { domains, problems, warnings };
}

function checkRoot(tokens: TemplateToken[], domain: string, subject: string, where: Omit<SchemaProblem, "message">, problems: SchemaProblem[]): boolean {
  const [root, second] = tokens;
  if (tokens.length < 3 || !root || !("literal" in root) || root.literal !== "coze" || !second || !("literal" in second) || second.literal !== domain) {
    problems.push({ ...where, message: `subject ${JSON.stringify(subject)} must start with "coze.${domain}." (root, then the domain) and have at least one more token` });
    return false;
  }
  return true;
}

function readOperation(
  method: DescMethod,
  opExt: DescExtension,
  domain: string,
  file: string,
  d: { events: EventModel[]; operations: OperationModel[] },
  located: Located[],
  problems: SchemaProblem[],
): void {
  const opt = option<{ subject: string; timeoutMs: number }>(method, opExt);
  const where = { file, element: `${method.parent.typeName}.${method.name}` };
  if (method.methodKind !== "unary") {
    problems.push({ ...where, message: "streaming methods cannot be request/reply operations; make it unary" });
    return;
  }
  const tokens = parseTemplate(opt.subject, where, problems);
  if (tokens === undefined || !checkRoot(tokens, domain, opt.subject, where, problems)) return;
  const subjectFields = tokens.flatMap((t) => ("field" in t ? [subjectField(method.input, t.field, where, problems)] : []));
  if (subjectFields.some((f) => f === undefined)) return;
  if (method.input.file !== method.parent.file || method.output.file !== method.parent.file) {
    problems.push({ ...where, message: "request and reply messages must be declared in the same file as the service" });
    return;
  }
  d.operations.push({
    key: lowerFirst(method.name),
    method: `${method.parent.typeName}.${method.name}`,
    subject: opt.subject,
    subjectFields: subjectFields as FieldModel[],
    timeoutMs: opt.timeoutMs > 0 ? opt.timeoutMs : 5000,
    requestType: method.input.typeName,
    replyType: method.output.typeName,
    requestTs: method.input.name,
    replyTs: method.output.name,
    requestFields: method.input.fields.map(fieldModel),
    module: `./${file.replace(/\.proto$/, "")}.js`,
    description: comment(method),
    file,
  });
  located.push({ tokens, subject: opt.subject, where });
}
