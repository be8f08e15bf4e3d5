import { execFileSync } from "node:child_process";

const seen = new Map<string, string>();

/**
 * The version a nats-server binary reports (`nats-server --version` prints
 * `nats-server: v2.12.15`), asked once per binary per process: every server
 * started reports it, and the answer does not change while tests run.
 */
export function readNatsServerVersion(binary: string): string {
  const known = seen.get(binary);
  if (known !== undefined) return known;
  let out: string;
  try {
    out = execFileSync(binary, ["--version"], { encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const detail = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
    throw new Error(`${binary} --version failed (${detail}); is it a nats-server binary?`, { cause: err });
  }
  const m = /\bv?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)\b/.exec(out);
  if (m === null) throw new Error(`${binary} --version printed ${JSON.stringify(out.trim())}, which names no version; is it a nats-server binary?`);
  seen.set(binary, m[1]!);
  return m[1]!;
}
