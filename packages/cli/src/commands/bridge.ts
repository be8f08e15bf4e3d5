/**
 * `cozebus bridge coze-studio [--once] [--json] [--group G]`: consumes Coze
 * Studio's legacy topics (the bus COZE_MQ_TYPE names, at MQ_NAME_SERVER) with
 * the bridge's own durable group and republishes them as typed
 * @cozebus/knowledge events on the same broker, idempotently. Runs until
 * SIGTERM/SIGINT (--once: until nothing arrived for a while), then prints
 * the counts. Parses its own arguments (main.ts hands it argv as is).
 */
import { parseArgs } from "node:util";
import { connect } from "@cozebus/core";
import { BRIDGE_GROUP, bridgeCozeStudio, openCozeStudio, type BridgeStats } from "@cozebus/coze-studio";
import { usageError } from "../errors.js";

export const BRIDGE_USAGE = "bridge coze-studio [--once] [--idle-ms N] [--group G] [--json]";

/** --once: done when no legacy message was settled for this long (default 2 s). */
const DEFAULT_IDLE_MS = 2000;

export async function bridgeCommand(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      once: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      group: { type: "string" },
      "idle-ms": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`usage: cozebus ${BRIDGE_USAGE}\n\n  republish Coze Studio's legacy topics as typed knowledge events (see docs/coze-studio.md, "The bridge")\n`);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== "coze-studio") throw usageError(`usage: cozebus ${BRIDGE_USAGE}`);
  const idleRaw = values["idle-ms"];
  if (idleRaw !== undefined && !/^\d+$/.test(idleRaw)) throw usageError(`--idle-ms needs a positive integer, got ${JSON.stringify(idleRaw)}`);
  const idleMs = idleRaw === undefined ? DEFAULT_IDLE_MS : Number(idleRaw);
  const say = (m: string): void => void process.stderr.write(`${m}\n`);
  const errors: string[] = [];
  const onError = (e: Error): void => {
    errors.push(e.message);
    say(`cozebus bridge: ${e.message}`);
  };

  const from = await openCozeStudio({ env, onError });
  let to;
  try {
    to = await connect({ env, onError });
  } catch (err) {
    await from.close();
    throw err;
  }
  let last = Date.now();
  const group = values.group ?? BRIDGE_GROUP;
  const bridge = await bridgeCozeStudio({ from, to, group, onError, onSettled: () => (last = Date.now()) });
  say(`cozebus bridge: ${from.mode} legacy topics -> typed knowledge events on ${to.name}, group ${group}${values.once ? " (--once)" : "; SIGTERM or Ctrl-C stops it"}`);

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      clearInterval(timer);
      resolve();
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    const timer = setInterval(() => {
      if (values.once && Date.now() - last >= idleMs) stop();
    }, 100);
  });
  await bridge.stop();
  const stats = bridge.stats;
  await from.close();
  await to.close();
  process.stdout.write(values.json ? `${JSON.stringify({ group, from: from.mode, to: to.name, ...stats })}\n` : render(group, stats));
  return 0;
}

function render(group: string, s: BridgeStats): string {
  const lines = [`group ${group}: ${s.received} legacy message(s) received`];
  for (const [name, n] of Object.entries(s.bridged)) lines.push(`  bridged  ${name}: ${n}`);
  if (s.duplicates > 0) lines.push(`  of which already on the typed side (same ce-id): ${s.duplicates}`);
  for (const [kind, n] of Object.entries(s.skipped)) lines.push(`  skipped  ${kind}: ${n} (no typed event)`);
  if (s.skippedOwn > 0) lines.push(`  skipped  the bridge's own events: ${s.skippedOwn}`);
  lines.push(`  retried ${s.retried}, dead-lettered ${s.deadLettered}`);
  return `${lines.join("\n")}\n`;
}
