import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { generateAll, readConfig, type Warn } from "./generate.js";
import type { QualityOfService } from "./model.js";

export interface NewEventResult {
  readonly protoFile: string;
  readonly message: string;
  readonly subject: string;
  readonly changeset: string;
  readonly generated: readonly string[];
}

const snake = (s: string): string => s.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();

/**
 * Adds an event to a domain's schema in one step: the message with its
 * subject and quality of service (keyed by the domain's entity id, taken
 * from its existing events), regenerated code, and a minor changeset for the
 * package. The new message's comments are placeholders to fill in.
 */
export function newEvent(root: string, domain: string, name: string, qos: QualityOfService = "at-least-once", warn?: Warn): NewEventResult {
  const config = readConfig(root);
  const d = config.domains[domain];
  if (d === undefined) throw new Error(`unknown domain "${domain}"; codegen.config.json knows: ${Object.keys(config.domains).join(", ")}`);
  if (!/^[A-Z][A-Za-z0-9]*$/.test(name)) throw new Error(`event name "${name}" must be PascalCase, e.g. ExecutionPaused`);
  const dir = resolve(root, config.schemas, d.protoPath);
  const versions = readdirSync(dir).filter((v) => /^v\d+$/.test(v)).sort();
  const latest = versions.at(-1);
  if (latest === undefined) throw new Error(`no version folder (v1, v2, ...) in ${dir}`);
  const protos = readdirSync(join(dir, latest)).filter((f) => f.endsWith(".proto")).sort();
  if (protos.length === 0) throw new Error(`no .proto file in ${join(dir, latest)}`);
  const protoFile = join(dir, latest, protos[0]!);
  const source = readFileSync(protoFile, "utf8");
  if (new RegExp(`^message ${name} \\{`, "m").test(source)) throw new Error(`${protoFile} already has a message ${name}`);

  // The entity id: the first subject field of an existing event, with its type.
  const m = /subject:\s*"coze\.[a-z0-9_]+\.\{([a-z0-9_]+)\}/.exec(source);
  const idField = m?.[1] ?? `${domain}_id`;
  const idType = new RegExp(`^\\s*(string|u?int(?:32|64)|s?fixed(?:32|64)|sint(?:32|64)) ${idField} = \\d+;`, "m").exec(source)?.[1] ?? "string";
  const domainPascal = domain.split("_").map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join("");
  const token = snake(name.startsWith(domainPascal) && name.length > domainPascal.length ? name.slice(domainPascal.length) : name);
  const subject = `coze.${domain}.{${idField}}.${token}`;

  const message = [
    "",
    `// ${name}: describe when this event happens (this comment becomes the generated docs).`,
    `message ${name} {`,
    "  option (coze.eventbus.v1.event) = {",
    `    subject: "${subject}"`,
    `    qos: ${qos === "at-most-once" ? "QUALITY_OF_SERVICE_AT_MOST_ONCE" : "QUALITY_OF_SERVICE_AT_LEAST_ONCE"}`,
    "  };",
    `  // The ${domain} this event is about.`,
    `  ${idType} ${idField} = 1;`,
    "}",
    "",
  ].join("\n");
  // Before the first service, so operations stay at the end of the file.
  const at = source.search(/^\/\/[^\n]*\nservice /m);
  writeFileSync(protoFile, at < 0 ? source.trimEnd() + "\n" + message : source.slice(0, at) + message.trimStart() + "\n" + source.slice(at));

  const generated = generateAll(root, warn);
  const pkg = (JSON.parse(readFileSync(join(root, d.package, "package.json"), "utf8")) as { name: string }).name;
  const changesetDir = join(root, ".changeset");
  if (!existsSync(changesetDir)) mkdirSync(changesetDir);
  const changeset = join(changesetDir, `${domain}-${token.replace(/_/g, "-")}.md`);
  writeFileSync(changeset, `---\n"${pkg}": minor\n---\n\nNew event \`${name}\` on \`${subject}\` (${qos}).\n`);
  return { protoFile, message: name, subject, changeset, generated };
}
