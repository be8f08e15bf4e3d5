import { compareStream } from "@cozebus/nats";
import type { ConsumerInfo, StreamInfo } from "@nats-io/jetstream";
import { wantedStreams } from "../../domains.js";
import { html, type Html } from "../html.js";
import type { ConsoleContext } from "../context.js";

const seconds = (ns: number): string => (ns === 0 ? "unlimited" : `${ns / 1e9}s`);
const limit = (n: number): string => (n < 0 ? "unlimited" : String(n));

/** Every stream with its consumers' infos, as the server reports them now. */
export async function readStreams(ctx: ConsoleContext): Promise<Array<{ info: StreamInfo; consumers: ConsumerInfo[] }>> {
  const js = await ctx.bus.jetstream();
  const out = [];
  for await (const info of js.jsm.streams.list()) {
    const consumers: ConsumerInfo[] = [];
    for await (const c of js.jsm.consumers.list(info.config.name)) consumers.push(c);
    out.push({ info, consumers });
  }
  return out.sort((a, b) => a.info.config.name.localeCompare(b.info.config.name));
}

/** Whether a stream still matches what these schemas want (the same check as `cozebus streams info`). */
function schemaMatch(info: StreamInfo, wanted: Map<string, Parameters<typeof compareStream>[1]>): Html {
  const spec = wanted.get(info.config.name);
  if (spec === undefined) return html`<span class="muted">not a cozebus stream</span>`;
  const d = compareStream(info.config, spec);
  const differences = [...d.fixed, ...d.missingSubjects.map((x) => `subjects: + ${x}`), ...d.raise];
  return differences.length === 0 ? html`<span class="ok">matches</span>` : html`<span class="bad">differs: ${differences.join("; ")}</span> <span class="muted">(cozebus streams apply)</span>`;
}

export async function streamsPage(ctx: ConsoleContext): Promise<Html> {
  const streams = await readStreams(ctx);
  const wanted = new Map((await wantedStreams(ctx.bus)).map((w) => [w.spec.name, w.spec]));
  if (streams.length === 0) return html`<p class="notice">No streams on this server. <code>cozebus streams apply</code> provisions the domains' streams and the DLQ.</p>`;
  return html`<table id="streams"><thead><tr><th>stream</th><th>subjects</th><th>schemas</th><th>messages</th><th>bytes</th><th>seq</th><th>last</th><th>consumers</th><th>limits</th><th>cluster</th></tr></thead><tbody>
${streams.map(({ info: s, consumers }) => {
  const c = s.config;
  return html`<tr data-stream="${c.name}"><td><strong>${c.name}</strong></td><td>${c.subjects.map((x) => html`<code>${x}</code><br>`)}</td><td>${schemaMatch(s, wanted)}</td>
<td class="num">${s.state.messages}</td><td class="num">${s.state.bytes}</td><td class="num">${s.state.first_seq}..${s.state.last_seq}</td><td>${s.state.last_ts}</td><td class="num">${consumers.length}</td>
<td>retention ${c.retention}, storage ${c.storage}, discard ${c.discard}<br>max age ${seconds(c.max_age)}, max msgs ${limit(c.max_msgs)}, max bytes ${limit(c.max_bytes)}<br>max msg size ${limit(c.max_msg_size ?? -1)}, duplicate window ${seconds(c.duplicate_window ?? 0)}, replicas ${c.num_replicas}</td>
<td>${s.cluster ? html`leader ${s.cluster.leader ?? "none"}${(s.cluster.replicas ?? []).map((r) => html`<br>${r.name} ${r.current ? "current" : `behind ${r.lag ?? 0}`}`)}` : html`<span class="muted">single server</span>`}</td></tr>`;
})}
</tbody></table>`;
}
