import { ConfigError, SubjectError } from "../errors.js";

/**
 * A subject token from user data must be a non-empty run of [A-Za-z0-9_-]:
 * that excludes `.` (would add tokens), `*` and `>` (wildcards), whitespace
 * and non-ASCII, so a user-supplied id can never move an event to another
 * subject.
 */
const TOKEN = /^[A-Za-z0-9_-]+$/;
const FIELD = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

export type TokenValue = string | number | bigint;

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** Validates one value destined for a subject token; returns it as a string. */
export function checkToken(field: string, value: unknown, template?: string): string {
  const where = template === undefined ? "" : ` (subject template ${template})`;
  let s: string;
  if (typeof value === "string") s = value;
  else if (typeof value === "bigint" || (typeof value === "number" && Number.isSafeInteger(value))) s = value.toString();
  else {
    throw new SubjectError(`field "${field}" is ${value === undefined ? "missing" : `${show(value)} (${typeof value})`}; a subject field needs a string or an integer${where}`, field);
  }
  if (!TOKEN.test(s)) {
    throw new SubjectError(
      `field "${field}" has value ${show(s)}, which cannot be used in a subject: only letters, digits, "_" and "-" are allowed, and it must not be empty${where}`,
      field,
    );
  }
  return s;
}

/** Validates a subject root such as `coze` or `tenant-a.coze`. */
export function checkPrefix(variable: string, prefix: string): string {
  const tokens = prefix.split(".");
  if (tokens.some((t) => !TOKEN.test(t))) {
    throw new ConfigError(variable, `${JSON.stringify(prefix)} is not a valid subject prefix: dot-separated tokens of letters, digits, "_" and "-"`);
  }
  return prefix;
}

/** One token of a template after its root: a fixed word or a `{field}`. */
export type TemplatePart = { readonly literal: string } | { readonly field: string };

/**
 * A schema's subject template, e.g. `coze.workflow.{workflow_id}.started`.
 * The first token is the root: it is replaced by the connection's prefix, so
 * one schema serves every tenant prefix.
 */
export class SubjectTemplate {
  readonly fields: readonly string[];
  /** The tokens after the root, in order. */
  readonly parts: readonly TemplatePart[];

  private constructor(
    readonly template: string,
    parts: readonly TemplatePart[],
  ) {
    this.parts = parts.slice(1);
    this.fields = parts.flatMap((p) => ("field" in p ? [p.field] : []));
  }

  /** Parses and checks a template; a bad one is a SubjectError naming the token. */
  static parse(template: string): SubjectTemplate {
    const tokens = template.split(".");
    if (tokens.length < 2) throw new SubjectError(`subject template ${show(template)} needs a root and at least one more token`);
    const seen = new Set<string>();
    const parts = tokens.map((t, i): TemplatePart => {
      const m = FIELD.exec(t);
      if (m) {
        const field = m[1]!;
        if (i === 0) throw new SubjectError(`subject template ${show(template)}: the root token cannot be a field`, field);
        if (seen.has(field)) throw new SubjectError(`subject template ${show(template)} uses {${field}} twice`, field);
        seen.add(field);
        return { field };
      }
      if (!TOKEN.test(t)) {
        throw new SubjectError(`subject template ${show(template)}: token ${i + 1} (${show(t)}) must be a {field} or letters, digits, "_" and "-"`);
      }
      return { literal: t };
    });
    return new SubjectTemplate(template, parts);
  }

  /** The concrete subject for these field values; every value is validated. */
  build(values: Readonly<Record<string, TokenValue | undefined>>, prefix = "coze"): string {
    let out = prefix;
    for (const p of this.parts) {
      out += "." + ("literal" in p ? p.literal : checkToken(p.field, values[p.field], this.template));
    }
    return out;
  }

  /** Reads the field values back out of a concrete subject; undefined when it does not fit the template. */
  match(subject: string, prefix = "coze"): Record<string, string> | undefined {
    if (!subject.startsWith(prefix + ".")) return undefined;
    const tokens = subject.slice(prefix.length + 1).split(".");
    if (tokens.length !== this.parts.length) return undefined;
    const out: Record<string, string> = {};
    for (const [i, p] of this.parts.entries()) {
      const t = tokens[i]!;
      if ("literal" in p) {
        if (p.literal !== t) return undefined;
      } else out[p.field] = t;
    }
    return out;
  }
}
