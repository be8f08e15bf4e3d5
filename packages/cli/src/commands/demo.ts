import { performance } from "node:perf_hooks";
import { agent } from "@cozebus/agent";
import { knowledge } from "@cozebus/knowledge";
import type { TransportLike } from "@cozebus/core";
import { NonRetryableError, newEventId, type Bus, type EventClient, type EventDef, type PartialOf } from "@cozebus/nats";
import { DeadLetters, type PulsarTransport } from "@cozebus/pulsar";
import { NodeType, workflow } from "@cozebus/workflow";
import { configuredOrLocalPulsar, configuredOrLocalServer, connectBus, connectPulsarCli, mqTypeOf, type GlobalFlags } from "../connect.js";
import { DOMAINS } from "../domains.js";

export interface DemoFlags extends GlobalFlags {
  /** Workflow executions (the other domains scale with it). */
  readonly events?: number;
}

/** What the demo counts; `lost` must be 0. */
interface Tally {
  published: number;
  delivered: number;
  retried: number;
  deadLettered: number;
  redeliveredAfterStop: number;
  turns: number;
  byType: Map<string, number>;
  latencies: number[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Where the demo runs: three connections (the main one, a healthy peer and
 * one that "crashes" mid-way), on NATS or Pulsar, each with its own way to
 * count dead letters and to shut down.
 */
interface Backend {
  readonly name: "nats" | "pulsar";
  readonly main: TransportLike;
  readonly peer: TransportLike;
  readonly doomed: TransportLike;
  describe(): string;
  /** Dead letters now, across the domains (the run counts the difference). */
  deadLetters(): Promise<number>;
  /** The doomed instance goes away: what it held but did not finish goes to the others. */
  crash(): Promise<void>;
  /** Drains the connections, stops a local server. */
  close(): Promise<void>;
}

const bounded = (p: Promise<unknown>, ms: number): Promise<void> => Promise.race([p.then(() => undefined, () => undefined), sleep(ms)]);

async function natsBackend(flags: DemoFlags, say: (m: string) => void): Promise<Backend> {
  const { flags: busFlags, local: server } = await configuredOrLocalServer(flags, say, "started");
  const opened: Bus[] = [];
  try {
    const bus = await connectBus(busFlags);
    opened.push(bus);
    // Two more connections play other instances: one healthy, one that will crash.
    const peer = await connectBus(busFlags);
    opened.push(peer);
    const doomed = await connectBus(busFlags);
    opened.push(doomed);
    for (const [name, b] of [["main", bus], ["peer", peer]] as const) {
      b.on("disconnected", () => say(`${name} connection lost; core events sent meanwhile are not delivered`));
      b.on("reconnected", () => say(`${name} connection back`));
    }
    const js = await bus.jetstream();
    return {
      name: "nats",
      main: bus,
      peer,
      doomed,
      describe: () => `${bus.describe()} (nats-server ${bus.server.version})`,
      deadLetters: () => js.deadLetters.count(),
      crash: () => doomed.close(),
      close: async () => {
        await doomed.close().catch(() => undefined);
        await drainQuietly(peer);
        await drainQuietly(bus);
        await server?.stop();
      },
    };
  } catch (err) {
    for (const b of opened) await b.close().catch(() => undefined);
    await server?.stop();
    throw err;
  }
}

async function pulsarBackend(flags: DemoFlags): Promise<Backend> {
  const { flags: pulsarFlags, local: broker } = await configuredOrLocalPulsar(flags, "running on");
  const opened: PulsarTransport[] = [];
  try {
    for (let i = 0; i < 3; i++) opened.push(await connectPulsarCli(pulsarFlags));
    const [main, peer, doomed] = opened as [PulsarTransport, PulsarTransport, PulsarTransport];
    const dlqs = DOMAINS.map((d) => new DeadLetters(main, d.def.name));
    return {
      name: "pulsar",
      main,
      peer,
      doomed,
      describe: () => `pulsar ${main.admin.rest.baseUrl}, namespace ${main.names.tenant}/${main.names.namespace}${broker !== undefined ? ` (local Pulsar ${broker.version})` : ""}`,
      deadLetters: async () => (await Promise.all(dlqs.map((d) => d.count()))).reduce<number>((a, n) => a + (n ?? 0), 0),
      // Its subscriptions stop (running handlers finish), its sockets close: the broker gives what it held unacked to the others.
      crash: () => doomed.close(),
      close: async () => {
        for (const t of [doomed, peer, main]) await bounded(t.drain(), 5000);
        for (const t of opened) await t.close().catch(() => undefined);
        await broker?.stop();
      },
    };
  } catch (err) {
    for (const t of opened) await t.close().catch(() => undefined);
    await broker?.stop();
    throw err;
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * `cozebus demo`: a realistic run across the three domains on the configured
 * server, or on a local nats-server it starts when none is configured.
 * Workflows run nodes; an agent answers conversation turns over
 * request/reply; a knowledge base indexes a batch of documents that fans out
 * into per-document events, with one indexing slower than the ack wait, one
 * poison document that ends in the dead-letter stream, and an indexer
 * stopped mid-way whose events go to the other one. Ends with a summary;
 * with --json its last line is one JSON object.
 *
 * On Pulsar (COZE_MQ_TYPE=pulsar) the same scenario runs through the same
 * typed clients on the Pulsar transport, on MQ_NAME_SERVER's broker or a
 * local Pulsar standalone it starts (and stops); what the transport lacks
 * (request/reply: the conversation turns) is skipped and named in the
 * summary's `skipped`.
 */
export async function demoCommand(flags: DemoFlags): Promise<number> {
  const executions = flags.events ?? 200;
  const documents = Math.max(10, Math.round(executions / 4));
  const turns = Math.max(5, Math.round(executions / 10));
  const say = (m: string): void => void (flags.json ? process.stderr : process.stdout).write(`${m}\n`);

  const backend = mqTypeOf(flags) === "pulsar" ? await pulsarBackend(flags) : await natsBackend(flags, say);
  const { main: bus, peer, doomed } = backend;
  /** What this transport cannot do, by name: skipped, and the summary says so. */
  const skipped: string[] = [];
  const t: Tally = { published: 0, delivered: 0, retried: 0, deadLettered: 0, redeliveredAfterStop: 0, turns: 0, byType: new Map(), latencies: [] };
  const sentAt = new Map<string, number>();
  const sentType = new Map<string, string>();
  const seen = new Set<string>();
  const progress = setInterval(() => {
    if (!process.stdout.isTTY || flags.json) return;
    const types = [...t.byType].map(([k, v]) => `${k} ${v}`).join(", ");
    process.stdout.write(`\r\x1b[K published ${t.published}  delivered ${t.delivered}  retried ${t.retried}  dead-lettered ${t.deadLettered}  in flight ${t.published - t.delivered - t.deadLettered}  | ${types}`.slice(0, process.stdout.columns ?? 200));
  }, 200);
  const received = (type: string, id: string): void => {
    // Events already in the streams from earlier runs are replayed to new groups: only this run's count.
    if (!sentAt.has(id)) return;
    t.byType.set(type, (t.byType.get(type) ?? 0) + 1);
    if (seen.has(id)) return; // a redelivery: counted as retried where it happens, never as a second delivery
    seen.add(id);
    t.delivered++;
    const at = sentAt.get(id);
    if (at !== undefined) t.latencies.push(performance.now() - at);
  };
  // The id is chosen before publishing: a fast consumer can see the event before the publish resolves.
  const send = async <E extends EventDef>(client: EventClient<E>, message: PartialOf<E["codec"]>): Promise<void> => {
    const id = newEventId();
    sentAt.set(id, performance.now());
    sentType.set(id, client.def.subject);
    t.published++;
    try {
      await client.publish(message, { id });
    } catch (err) {
      say(`publish of ${client.def.subject} (id ${id}) failed: ${String(err)}`);
      throw err;
    }
  };

  try {
    say(`connected: ${backend.describe()}`);
    const wf = workflow(bus);
    const ag = agent(bus);
    const kb = knowledge(bus);
    const peerKb = knowledge(peer);
    const doomedKb = knowledge(doomed);
    for (const c of [wf, ag, kb]) await c.provision();
    const dlqBefore = await backend.deadLetters();

    // The monitor subscribes before the runner: node_started is a core event (at-most-once), and the runner
    // may at once handle executions left in the stream by earlier runs; sent before anyone listens, it is gone.
    await wf.subscribeAll((e) => {
      if (e.type !== "executionStarted") received(`workflow.${e.type}`, e.ctx.id);
    }, { group: "workflow-monitor", concurrency: 8 });

    // Workflow runner: each started execution runs three nodes and completes.
    await wf.executionStarted.subscribe(async (e, ctx) => {
      received("workflow.executionStarted", ctx.id);
      // An execution from an earlier run or another publisher (a new group starts at the oldest kept event) is not this run's.
      if (!sentAt.has(ctx.id)) return;
      for (const [i, nodeType] of [NodeType.NODE_TYPE_START, NodeType.NODE_TYPE_LLM, NodeType.NODE_TYPE_END].entries()) {
        await send(wf.nodeStarted, { workflowId: e.workflowId, executeId: e.executeId, nodeId: `n${i}`, nodeType });
        await send(wf.nodeCompleted, { workflowId: e.workflowId, executeId: e.executeId, nodeId: `n${i}`, nodeType, durationMs: 1n });
      }
      await send(wf.executionCompleted, { workflowId: e.workflowId, executeId: e.executeId, outputJson: "{}" });
    }, { group: "workflow-runner", concurrency: 8 });

    // Agent: published, then answers conversation turns over request/reply.
    // Request/reply needs the transport's requestReply feature (Pulsar has none): skipped, by name, where it lacks.
    const requestReply = ag.transport.features("at-most-once").requestReply;
    if (requestReply) await ag.runTurn.serve((req) => ({ runId: BigInt(t.turns + 1), content: `Echo: ${req.content}` }), { group: "agent-runtime" });
    else skipped.push(`agent.runTurn conversation turns (request/reply: the ${ag.transport.name} transport declares requestReply: false)`);
    await ag.published.subscribe((_e, ctx) => received("agent.published", ctx.id), { group: "search-sync" });
    await send(ag.published, { agentId: 7n, version: "1.0.0" });

    // Knowledge: a batch fans out into per-document events; two indexers share them.
    await kb.indexDocumentsRequested.subscribe(async (e, ctx) => {
      received("knowledge.indexDocumentsRequested", ctx.id);
      // Likewise a batch from an earlier run.
      if (!sentAt.has(ctx.id)) return;
      for (const d of e.documents) await send(kb.indexDocumentRequested, { knowledgeId: e.knowledgeId, documentId: d.documentId, ...(d.source ? { source: d.source } : {}) });
    }, { group: "fan-out" });
    const index = (who: string, delayMs: number) => async (e: { documentId: bigint; source?: { kind?: { $case: string; value: string } } }, ctx: { id: string; attempt: number }): Promise<void> => {
      if (ctx.attempt > 1) t.retried++;
      if (e.source?.kind?.value === "poison") throw new NonRetryableError(`document ${e.documentId} cannot be parsed`);
      // Document 3 takes longer than the ack wait: in-progress acks keep it from being delivered twice.
      await sleep(e.documentId === 3n ? 1500 : delayMs);
      received(`knowledge.indexDocumentRequested@${who}`, ctx.id);
    };
    const indexOptions = { group: "indexer", concurrency: 4, retry: { ackWaitMs: 1000, maxDeliveries: 5, backoff: { initialMs: 100 } } };
    await kb.indexDocumentRequested.subscribe(index("a", 5), indexOptions);
    await peerKb.indexDocumentRequested.subscribe(index("b", 5), indexOptions);
    // Indexer c is slow and its process "crashes" mid-way: what it held is redelivered to a and b after the ack wait.
    await doomedKb.indexDocumentRequested.subscribe(index("c", 2000), indexOptions);

    const t0 = performance.now();
    const docs = Array.from({ length: documents }, (_, i) => ({ documentId: BigInt(i + 1), name: `doc-${i + 1}.md`, source: { kind: { $case: "text" as const, value: i === 4 ? "poison" : `content ${i + 1}` } } }));
    await send(kb.indexDocumentsRequested, { knowledgeId: 1n, documents: docs });
    for (let i = 0; i < executions; i++) await send(wf.executionStarted, { workflowId: `wf_${i % 20}`, executeId: BigInt(i + 1), startedAt: new Date() });
    await sleep(300);
    await backend.crash();
    for (let i = 0; requestReply && i < turns; i++) {
      const reply = await ag.runTurn.request({ agentId: 7n, conversationId: 1n, content: `question ${i + 1}` });
      if (reply.content === `Echo: question ${i + 1}`) t.turns++;
    }

    // Wait until everything published is delivered or dead-lettered (bounded).
    const deadline = Date.now() + 30_000;
    for (;;) {
      t.deadLettered = (await backend.deadLetters()) - dlqBefore;
      if (t.delivered + t.deadLettered >= t.published || Date.now() > deadline) break;
      await sleep(100);
    }
    const elapsed = (performance.now() - t0) / 1000;
    clearInterval(progress);
    if (process.stdout.isTTY && !flags.json) process.stdout.write("\n");

    const sorted = [...t.latencies].sort((a, b) => a - b);
    const summary = {
      published: t.published,
      delivered: t.delivered,
      retried: t.retried,
      dead_lettered: t.deadLettered,
      lost: t.published - t.delivered - t.deadLettered,
      conversation_turns: t.turns,
      seconds: Number(elapsed.toFixed(2)),
      p50_ms: Number(percentile(sorted, 50).toFixed(2)),
      p99_ms: Number(percentile(sorted, 99).toFixed(2)),
      transport: backend.name,
      skipped,
    };
    if (summary.lost > 0) {
      const missing = [...sentAt.keys()].filter((id) => !seen.has(id)).map((id) => `${sentType.get(id)} ${id}`);
      say(`not delivered (the dead-lettered ones are among them): ${missing.join(", ")}`);
    }
    if (!flags.json) {
      say("\nsummary");
      for (const [k, v] of Object.entries(summary)) if (k !== "skipped") say(`  ${k.padEnd(20)} ${String(v)}`);
      say(`  by event: ${[...t.byType].map(([k, v]) => `${k}=${v}`).join(" ")}`);
      if (skipped.length > 0) say(`  skipped on ${backend.name}: ${skipped.join("; ")}`);
    } else {
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    }
    return summary.lost === 0 ? 0 : 1;
  } finally {
    clearInterval(progress);
    await backend.close();
  }
}

async function drainQuietly(bus: Bus): Promise<void> {
  await bus.drain({ timeoutMs: 5000 }).catch(() => undefined);
}
