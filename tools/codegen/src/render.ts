import type { DomainModel, EventModel, OperationModel } from "./model.js";

const HEADER = (d: DomainModel): string =>
  `// generated — do not edit. Made by @cozebus/codegen from ${d.files.join(", ")}; change the schema and run "npm run codegen".\n`;

const doc = (text: string, indent: string): string => (text === "" ? "" : `${indent}/** ${text.replace(/\*\//g, "*\\/")} */\n`);
const fieldsObject = (fields: readonly { name: string; prop: string }[]): string => `{ ${fields.map((f) => `${f.name}: ${JSON.stringify(f.prop)}`).join(", ")} }`;

function renderEvent(e: EventModel): string {
  return (
    doc(e.description, "    ") +
    `    ${e.key}: {\n` +
    `      type: ${JSON.stringify(e.type)},\n` +
    `      subject: ${JSON.stringify(e.subject)},\n` +
    `      fields: ${fieldsObject(e.subjectFields)},\n` +
    `      qos: ${JSON.stringify(e.qos)},\n` +
    `      codec: ${e.tsName},\n` +
    (e.description ? `      description: ${JSON.stringify(e.description)},\n` : "") +
    `    },\n`
  );
}

function renderOperation(o: OperationModel): string {
  return (
    doc(o.description, "    ") +
    `    ${o.key}: {\n` +
    `      subject: ${JSON.stringify(o.subject)},\n` +
    `      fields: ${fieldsObject(o.subjectFields)},\n` +
    `      timeoutMs: ${o.timeoutMs},\n` +
    `      requestType: ${JSON.stringify(o.requestType)},\n` +
    `      replyType: ${JSON.stringify(o.replyType)},\n` +
    `      request: ${o.requestTs},\n` +
    `      reply: ${o.replyTs},\n` +
    (o.description ? `      description: ${JSON.stringify(o.description)},\n` : "") +
    `    },\n`
  );
}

/** `src/gen/<domain>.events.ts`: the domain's definition, declarations only. */
export function renderDomainModule(d: DomainModel): string {
  const imports = new Map<string, Set<string>>();
  const need = (module: string, name: string): void => {
    const set = imports.get(module) ?? new Set<string>();
    set.add(name);
    imports.set(module, set);
  };
  for (const e of d.events) need(e.module, e.tsName);
  for (const o of d.operations) {
    need(o.module, o.requestTs);
    need(o.module, o.replyTs);
  }
  const importLines = [...imports.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([module, names]) => `import { ${[...names].sort().join(", ")} } from ${JSON.stringify(module)};`);
  const constName = `${d.name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())}Domain`;
  return (
    HEADER(d) +
    `import { defineDomain } from "@cozebus/core";\n` +
    importLines.join("\n") +
    "\n\n" +
    `/** Every event and request/reply operation of the ${d.name} domain (${d.protoPackage}). */\n` +
    `export const ${constName} = defineDomain({\n` +
    `  name: ${JSON.stringify(d.name)},\n` +
    `  events: {\n` +
    d.events.map(renderEvent).join("") +
    `  },\n` +
    `  operations: {\n` +
    d.operations.map(renderOperation).join("") +
    `  },\n` +
    `});\n`
  );
}

/** `src/gen/catalog.json`: the machine-readable catalogue (CLI, docs, other languages). */
export function renderCatalog(d: DomainModel, packageName: string): string {
  return (
    JSON.stringify(
      {
        generatedBy: "@cozebus/codegen — do not edit",
        domain: d.name,
        package: packageName,
        protoPackage: d.protoPackage,
        events: d.events.map((e) => ({
          name: e.key,
          type: e.type,
          subject: e.subject,
          qos: e.qos,
          description: e.description,
          fields: e.fields,
        })),
        operations: d.operations.map((o) => ({
          name: o.key,
          method: o.method,
          subject: o.subject,
          timeoutMs: o.timeoutMs,
          requestType: o.requestType,
          replyType: o.replyType,
          description: o.description,
          requestFields: o.requestFields,
        })),
      },
      null,
      2,
    ) + "\n"
  );
}

/** `src/gen/EVENTS.md`: the human catalogue, from the proto comments. */
export function renderMarkdown(d: DomainModel, packageName: string): string {
  const lines = [
    `<!-- generated — do not edit. Made by @cozebus/codegen from ${d.files.join(", ")}. -->`,
    `# ${packageName} events`,
    "",
    "| event | subject | qos | type |",
    "|---|---|---|---|",
    ...d.events.map((e) => `| [\`${e.key}\`](#${e.key.toLowerCase()}) | \`${e.subject}\` | ${e.qos} | \`${e.type}\` |`),
    "",
  ];
  if (d.operations.length > 0) {
    lines.push("| operation (request/reply) | subject | timeout | request -> reply |", "|---|---|---|---|");
    for (const o of d.operations) lines.push(`| \`${o.key}\` | \`${o.subject}\` | ${o.timeoutMs} ms | \`${o.requestType}\` -> \`${o.replyType}\` |`);
    lines.push("");
  }
  for (const e of d.events) {
    lines.push(`## ${e.key}`, "", e.description, "", `Subject \`${e.subject}\`, ${e.qos}, \`${e.type}\`.`, "", "| field | type | description |", "|---|---|---|");
    for (const f of e.fields) lines.push(`| \`${f.prop}\` | \`${f.type}\` | ${f.description.replace(/\|/g, "\\|")} |`);
    lines.push("");
  }
  return lines.join("\n");
}
