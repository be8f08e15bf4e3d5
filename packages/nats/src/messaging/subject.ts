import { SubjectError, checkToken, type SubjectTemplate, type TokenValue } from "@cozebus/core/transport";

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** A concrete subject for publishing: no wildcards, no empty tokens, printable ASCII without spaces. */
export function checkPublishSubject(subject: string): string {
  const tokens = subject.split(".");
  for (const t of tokens) {
    if (t === "" || t === "*" || t === ">" || !/^[\x21-\x7e]+$/.test(t)) {
      throw new SubjectError(
        `cannot publish to ${show(subject)}: a publish subject needs non-empty tokens of printable ASCII without spaces, and no wildcards`,
      );
    }
  }
  return subject;
}

/** A subscription pattern: like a subject, plus `*` tokens and a final `>`. */
export function checkSubscribePattern(pattern: string): string {
  const tokens = pattern.split(".");
  tokens.forEach((t, i) => {
    const wildcard = t === "*" || (t === ">" && i === tokens.length - 1);
    if (!wildcard && (t === "" || t.includes("*") || t.includes(">") || !/^[\x21-\x7e]+$/.test(t))) {
      throw new SubjectError(`cannot subscribe to ${show(pattern)}: tokens must be non-empty printable ASCII, "*", or a final ">"`);
    }
  });
  return pattern;
}

/**
 * A NATS subscription pattern for a template: given fields are fixed (and
 * validated), omitted ones match any token (`*`).
 */
export function templatePattern(template: SubjectTemplate, filter: Readonly<Record<string, TokenValue | undefined>> = {}, prefix = "coze"): string {
  for (const key of Object.keys(filter)) {
    if (!template.fields.includes(key)) {
      throw new SubjectError(`filter field "${key}" is not in subject template ${template.template} (fields: ${template.fields.join(", ") || "none"})`, key);
    }
  }
  let out = prefix;
  for (const p of template.parts) {
    if ("literal" in p) out += "." + p.literal;
    else out += "." + (filter[p.field] === undefined ? "*" : checkToken(p.field, filter[p.field], template.template));
  }
  return out;
}

export { SubjectTemplate, checkToken, checkPrefix } from "@cozebus/core/transport";
export type { TokenValue } from "@cozebus/core/transport";
