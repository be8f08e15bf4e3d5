import { agentDomain } from "@cozebus/agent";
import { domainClient, type DomainDef } from "@cozebus/nats";
import { knowledgeDomain } from "@cozebus/knowledge";
import { workflowDomain } from "@cozebus/workflow";
import { connectBus, type GlobalFlags } from "../connect.js";
import { usageError } from "../errors.js";

const DOMAINS: readonly DomainDef[] = [workflowDomain, agentDomain, knowledgeDomain];

/**
 * `cozebus streams apply` creates or reconciles every domain's stream and the
 * dead-letter stream (replicas from NATS_STREAM_REPLICAS); `streams list`
 * shows each stream's messages and its consumers' pending and redelivered counts.
 */
export async function streamsCommand(args: readonly string[], flags: GlobalFlags): Promise<number> {
  const [sub] = args;
  if (sub !== "apply" && sub !== "list") throw usageError("usage: cozebus streams apply|list [--json]");
  const bus = await connectBus(flags);
  try {
    const js = await bus.jetstream();
    if (sub === "apply") {
      for (const d of DOMAINS) {
        for (const r of await domainClient(bus, d).provision()) {
          if (flags.json) process.stdout.write(`${JSON.stringify(r)}\n`);
          else process.stdout.write(`${r.stream}: ${r.action}${r.changed.length ? ` (${r.changed.join("; ")})` : ""}\n`);
        }
      }
      return 0;
    }
    for await (const s of js.jsm.streams.list()) {
      const consumers = [];
      for await (const c of js.jsm.consumers.list(s.config.name)) {
        consumers.push({ name: c.name, pending: c.num_pending, ackPending: c.num_ack_pending, redelivered: c.num_redelivered });
      }
      const row = { stream: s.config.name, subjects: s.config.subjects, messages: s.state.messages, bytes: s.state.bytes, replicas: s.config.num_replicas, consumers };
      if (flags.json) process.stdout.write(`${JSON.stringify(row)}\n`);
      else {
        process.stdout.write(`${row.stream}  messages ${row.messages}  bytes ${row.bytes}  replicas ${row.replicas}\n`);
        for (const c of consumers) process.stdout.write(`  consumer ${c.name}  pending ${c.pending}  ack pending ${c.ackPending}  redelivered ${c.redelivered}\n`);
      }
    }
    return 0;
  } finally {
    await bus.drain().catch(() => undefined);
  }
}
