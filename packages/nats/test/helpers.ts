import type { JetStream, Logger } from "../src/index.js";

/** A logger that keeps lines for assertions (and keeps test output quiet). */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
}

export { sleep, waitFor } from "@cozebus/testing";

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/**
 * Raw-transport tests publish on any subject under `coze.<domain>.`: they get
 * a stream over all of it (the typed layer never does this; it derives exact
 * subjects from the domain) plus the dead-letter stream.
 */
export async function provisionRaw(js: JetStream, ...domains: string[]): Promise<void> {
  for (const d of domains) await js.ensureStream(js.domainStream(d, [`coze.${d}.>`]));
  await js.ensureStream(js.deadLetterStream());
}
