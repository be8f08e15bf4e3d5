import type { SchemaProblem } from "./model.js";

const LITERAL = /^[A-Za-z0-9_-]+$/;
const FIELD = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

export type TemplateToken = { readonly literal: string } | { readonly field: string };

/** Splits a subject template into tokens, reporting every malformed one. */
export function parseTemplate(template: string, where: Omit<SchemaProblem, "message">, problems: SchemaProblem[]): TemplateToken[] | undefined {
  if (template === "") {
    problems.push({ ...where, message: 'has no subject; set (coze.eventbus.v1.event).subject, e.g. "coze.<domain>.{id}.<event>"' });
    return undefined;
  }
  const tokens: TemplateToken[] = [];
  let ok = true;
  template.split(".").forEach((t, i) => {
    const f = FIELD.exec(t);
    if (f) tokens.push({ field: f[1]! });
    else if (LITERAL.test(t)) tokens.push({ literal: t });
    else {
      ok = false;
      const what = t === "" ? "an empty token" : t === "*" || t === ">" || t.includes("*") || t.includes(">") ? `a wildcard (${JSON.stringify(t)})` : JSON.stringify(t);
      problems.push({ ...where, message: `subject ${JSON.stringify(template)}: token ${i + 1} is ${what}; use literals of [A-Za-z0-9_-] or {field}` });
    }
  });
  return ok ? tokens : undefined;
}

/**
 * Two templates can produce the same subject when they have as many tokens
 * and, position by position, the literals agree or one side is a field.
 */
export function collide(a: readonly TemplateToken[], b: readonly TemplateToken[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i]!;
    return "field" in x || "field" in y || x.literal === y.literal;
  });
}

/** A subject both templates can produce, for the error message. */
export function example(a: readonly TemplateToken[], b: readonly TemplateToken[]): string {
  return a.map((x, i) => ("literal" in x ? x.literal : "literal" in b[i]! ? (b[i] as { literal: string }).literal : "x")).join(".");
}
