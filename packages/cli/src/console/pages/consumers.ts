import type { ConsumerInfo } from "@nats-io/jetstream";
import { html, type Html } from "../html.js";
import type { ConsoleContext } from "../context.js";
import { readStreams } from "./streams.js";

/** cozebus names a durable `<group>_<hash of its filters>` and describes it "cozebus group <group> ..."; other tools' consumers are their own group. */
export function groupOf(c: ConsumerInfo): string {
  return /^cozebus group (\S+)/.exec(c.config.description ?? "")?.[1] ?? c.name;
}

const seconds = (ns: number | undefined): string => `${(ns ?? 0) / 1e9}s`;

export async function consumersPage(ctx: ConsoleContext): Promise<Html> {
  const rows = (await readStreams(ctx)).flatMap(({ info, consumers }) => consumers.map((c) => ({ stream: info.config.name, group: groupOf(c), c })));
  rows.sort((a, b) => a.group.localeCompare(b.group) || a.stream.localeCompare(b.stream) || a.c.name.localeCompare(b.c.name));
  if (rows.length === 0) return html`<p class="notice">No consumers yet: a service creates its group's durable consumer when it subscribes.</p>`;
  const groups = [...new Set(rows.map((r) => r.group))];
  return html`<p class="muted">Lag is the events the group has not been given yet (num_pending); ack pending are given and not settled; redelivered were given more than once; waiting pulls are fetches parked on the server (0 while no instance is pulling).</p>
${groups.map(
  (g) => html`<h2>group <code>${g}</code></h2>
<table class="consumers" data-group="${g}"><thead><tr><th>stream</th><th>consumer</th><th>filter</th><th>lag (pending)</th><th>ack pending</th><th>redelivered</th><th>waiting pulls</th><th>delivered seq</th><th>ack wait</th><th>max deliver</th></tr></thead><tbody>
${rows
  .filter((r) => r.group === g)
  .map(({ stream, c }) => html`<tr data-consumer="${c.name}"><td>${stream}</td><td><code>${c.name}</code></td><td><code>${c.config.filter_subject ?? c.config.filter_subjects?.join(", ") ?? ">"}</code></td><td class="num${c.num_pending > 0 ? " bad" : ""}">${c.num_pending}</td><td class="num">${c.num_ack_pending}</td><td class="num">${c.num_redelivered}</td><td class="num">${c.num_waiting}</td><td class="num">${c.delivered.stream_seq}</td><td>${seconds(c.config.ack_wait)}</td><td class="num">${c.config.max_deliver ?? -1}</td></tr>`)}
</tbody></table>`,
)}`;
}
