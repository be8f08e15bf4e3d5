import { catalog } from "../catalog.js";
import type { GlobalFlags } from "../connect.js";

/** `cozebus events [--json]`: every event and operation with its proto type, subject, quality of service and package. */
export function eventsCommand(flags: GlobalFlags): number {
  const events = catalog.events.map((e) => ({
    kind: "event",
    name: `${e.domain}.${e.name}`,
    type: e.def.type,
    subject: e.def.subject,
    qos: e.def.qos,
    package: e.package,
  }));
  const operations = catalog.operations.map((o) => ({
    kind: "operation",
    name: `${o.domain}.${o.name}`,
    type: `${o.def.requestType} -> ${o.def.replyType}`,
    subject: o.def.subject,
    qos: "request/reply",
    package: o.package,
  }));
  const rows = [...events, ...operations];
  if (flags.json) {
    for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
    return 0;
  }
  const cols = ["name", "subject", "qos", "type", "package"] as const;
  const width = Object.fromEntries(cols.map((c) => [c, Math.max(c.length, ...rows.map((r) => r[c].length))])) as Record<(typeof cols)[number], number>;
  const line = (r: Record<(typeof cols)[number], string>): string => cols.map((c) => r[c].padEnd(width[c])).join("  ").trimEnd();
  process.stdout.write(`${line({ name: "NAME", subject: "SUBJECT", qos: "QOS", type: "TYPE", package: "PACKAGE" })}\n`);
  for (const r of rows) process.stdout.write(`${line(r)}\n`);
  return 0;
}
