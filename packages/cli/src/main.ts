#!/usr/bin/env node
/**
 * cozebus — the command line of the typed event bus.
 *
 * Exit codes: 0 success; 1 the operation failed (server unreachable, bad
 * credentials, timeout, no responders, refused); 2 bad input or usage
 * (nothing was sent). Errors are one line on stderr.
 */
import { parseArgs } from "node:util";
import { CozebusError } from "@cozebus/nats";
import { SECTIONS, benchCommand, parseSections } from "./commands/bench.js";
import { BRIDGE_USAGE, bridgeCommand } from "./commands/bridge.js";
import { CONSOLE_ABOUT, CONSOLE_USAGE, consoleMain } from "./console/command.js";
import { demoCommand } from "./commands/demo.js";
import { doctorCommand } from "./commands/doctor.js";
import { provisionCommand } from "./commands/provision.js";
import { dlqCommand } from "./commands/dlq.js";
import { eventsCommand } from "./commands/events.js";
import { OUTBOX_USAGE, outboxCommand } from "./commands/outbox.js";
import { pubCommand } from "./commands/pub.js";
import { requestCommand } from "./commands/request.js";
import { streamsCommand } from "./commands/streams.js";
import { subCommand } from "./commands/sub.js";
import { requireNats, type MqType } from "./connect.js";
import { CliError, usageError } from "./errors.js";
import { SchemaSet } from "./schemas.js";

const BENCH_USAGE = "bench [--quick] [--messages N] [--rounds R] [--rates 1000,5000] [--seconds S] [--only SECTIONS] [--report FILE.md] [--json]";

/** Each command's usage and what it does; `cozebus --help` lists them all, `cozebus <command> --help` one. */
const COMMANDS: ReadonlyArray<{ readonly name: string; readonly usage: string; readonly about: string }> = [
  { name: "demo", usage: "demo [--events N] [--json]", about: "the main job: workflows, an agent and a knowledge base, end to end,\nwith a summary (lost must be 0); starts a local nats-server (Pulsar: a local Pulsar\nstandalone) when none is configured; on Pulsar the request/reply part is skipped, by name" },
  { name: "events", usage: "events [--json]", about: "every event and request/reply operation: proto type, subject, quality of service, package" },
  { name: "pub", usage: "pub <event> <json> [--schemas F]", about: "publish one event (proto3 JSON); prints the subject and where it was stored\n(JetStream stream and sequence, Pulsar message id)" },
  { name: "sub", usage: "sub <event|subject-pattern> [--group G] [--count N] [--json] [--schemas F]", about: "print events as they arrive (core NATS: never takes events from durable consumers;\nPulsar: an event or a whole domain, on a subscription of its own removed on exit, or\nthe subscription --group G, kept)" },
  { name: "request", usage: "request <operation> <json> [--timeout ms]", about: "send a request, print the typed reply as JSON (NATS only: Pulsar has no request/reply)" },
  { name: "provision", usage: "provision [--json]", about: "provision what every domain needs on the chosen transport, additively (NATS: the streams\nand the DLQ, as streams apply; Pulsar: namespace, a topic per event, DLQ topics)" },
  {
    name: "streams",
    usage: "streams apply | list | info [stream] | prune [stream] [--yes] [--force] [--json]",
    about:
      "apply: provision the domains' streams and the DLQ, additively (never removes a subject or\nlowers a limit another build may use); list: them all; info: one in full (limits, cluster,\nconsumers, builds that provisioned it, match with the schemas); prune: list what the streams\nhave that these schemas do not need, with why, and remove it with --yes (--force: even when a\nnewer build provisioned the stream)",
  },
  { name: "dlq", usage: "dlq list [--limit N] [--reason R] | show <seq> [--schemas F] | replay <seq> | replay --all [--reason R]", about: "dead letters: why, from where, how many deliveries; replay to the original subject\n(--reason unknown-event: the events a build could not name, once a build that knows them runs)" },
  { name: "doctor", usage: "doctor [--monitor http://host:8222] [--coze-studio] [--json]", about: "check config, connection, auth, TLS, server version, JetStream, streams against the\nschemas, dead letters and monitoring (Pulsar: web service, token, tenant/namespace, topics),\nCoze Studio's legacy bus (--coze-studio, or found on the broker: where cozebus differs from\nthe Go side), then the transport's features; each finding with its fix (exit 1 when a check failed)" },
  {
    name: "bench",
    usage: BENCH_USAGE,
    about: `cozebus against raw nats.js on the same server, and the Go client (nats.go) when Go is installed:\nthroughput and ratios, fixed-rate latency p50/p99/p999/max at each offered rate, request/reply,\npayload sizes, filtered subscriptions, memory, the inbox's cost (creates and deletes COZEBUS_BENCH_*\nstreams); --quick: under a minute; --only: some of ${SECTIONS.join(",")}; --report: markdown and an\nSVG chart beside it. On Pulsar: cozebus's Pulsar path against raw WebSocket-API code (creates and deletes\ncoze.cozebench.* topics)`,
  },
  { name: "console", usage: CONSOLE_USAGE, about: CONSOLE_ABOUT },
  { name: "outbox", usage: OUTBOX_USAGE, about: "relay: publish the committed rows of the transactional outbox (@cozebus/postgres, or\n@cozebus/mysql for a mysql:// DATABASE_URL) through the transport, in order per key, ce-id =\nNats-Msg-Id, until SIGTERM (--once: what is due, then exit); migrate: create the tables;\nstatus: unsent and failing rows" },
  { name: "bridge", usage: BRIDGE_USAGE, about: "consume Coze Studio's legacy topics (COZE_MQ_TYPE, MQ_NAME_SERVER) with the bridge's own group and\nrepublish them as typed knowledge events, idempotently; until SIGTERM (--once: until idle), then the counts" },
];

const OPTIONS = `options:
  --mq-type <t>     nats or pulsar, overrides COZE_MQ_TYPE (default nats)
  --server <urls>   NATS server(s), overrides NATS_SERVER_URL (every NATS_* variable applies);
                    Pulsar: pulsar://host:6650 (overrides MQ_NAME_SERVER) or http://host:8080
                    (the web service, overrides PULSAR_WEB_SERVICE_URL); every PULSAR_* variable applies
  --json            machine-readable output, one JSON object per line
  --schemas <file>  pub, sub, dlq show: find, encode and decode events with this descriptor set, which may be newer
                    than this build; npm run codegen writes schemas/cozebus.binpb
  -h, --help        help (cozebus <command> --help for one command)

exit codes: 0 ok, 1 failed (unreachable, auth, timeout, no responders), 2 bad input (nothing sent)
`;

const indent = (text: string, by: string): string => text.split("\n").map((l) => by + l).join("\n");

function help(command: string | undefined): string {
  const one = COMMANDS.find((c) => c.name === command);
  if (one) return `usage: cozebus ${one.usage}\n\n${indent(one.about, "  ")}\n\n${OPTIONS}`;
  const list = COMMANDS.map((c) => `  ${c.usage}\n${indent(c.about, "      ")}`).join("\n");
  return `usage: cozebus <command> [options]\n\ncommands:\n${list}\n\n${OPTIONS}`;
}

function mqTypeFlag(v: string | undefined): MqType | undefined {
  if (v === undefined || v === "nats" || v === "pulsar") return v;
  throw usageError(`--mq-type must be nats or pulsar, got ${JSON.stringify(v)}`);
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === "bridge") return bridgeCommand(argv.slice(1)); // its own flags (--once, --idle-ms)
  if (argv[0] === "console") return consoleMain(argv.slice(1)); // its own flags (--host, --port, --token)
  if (argv[0] === "outbox") return outboxCommand(argv.slice(1)); // its own flags (--database-url, --once, ...)
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      server: { type: "string" },
      "mq-type": { type: "string" },
      json: { type: "boolean", default: false },
      group: { type: "string" },
      count: { type: "string" },
      timeout: { type: "string" },
      limit: { type: "string" },
      all: { type: "boolean", default: false },
      yes: { type: "boolean", default: false },
      reason: { type: "string" },
      force: { type: "boolean", default: false },
      events: { type: "string" },
      monitor: { type: "string" },
      "coze-studio": { type: "boolean", default: false },
      messages: { type: "string" },
      rounds: { type: "string" },
      quick: { type: "boolean", default: false },
      rates: { type: "string" },
      seconds: { type: "string" },
      only: { type: "string" },
      report: { type: "string" },
      schemas: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [command, ...args] = positionals;
  if (values.help || command === undefined || command === "help") {
    process.stdout.write(help(command === "help" ? args[0] : command));
    return command === undefined && !values.help ? 2 : 0;
  }
  const int = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || Number(v) < 1) throw usageError(`--${name} needs a positive integer, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  const mqType = mqTypeFlag(values["mq-type"]);
  const flags = { json: values.json, ...(values.server !== undefined ? { server: values.server } : {}), ...(mqType !== undefined ? { mqType } : {}) };
  const schemas = values.schemas !== undefined ? { schemas: SchemaSet.load(values.schemas) } : {};
  switch (command) {
    case "events":
      return eventsCommand(flags);
    case "demo": {
      const events = int("events", values.events);
      return demoCommand({ ...flags, ...(events !== undefined ? { events } : {}) });
    }
    case "pub":
      return pubCommand(args, { ...flags, ...schemas });
    case "sub": {
      const count = int("count", values.count);
      return subCommand(args, { ...flags, ...schemas, ...(values.group !== undefined ? { group: values.group } : {}), ...(count !== undefined ? { count } : {}) });
    }
    case "request": {
      requireNats(flags, "cozebus request (request/reply)", "the Pulsar transport declares requestReply: false");
      const timeout = int("timeout", values.timeout);
      return requestCommand(args, { ...flags, ...(timeout !== undefined ? { timeout } : {}) });
    }
    case "provision":
      if (args.length > 0) throw usageError("usage: cozebus provision [--json]");
      return provisionCommand(flags);
    case "streams":
      requireNats(flags, "cozebus streams (JetStream streams)", "on Pulsar, cozebus provision creates the topics and cozebus doctor checks them");
      return streamsCommand(args, { ...flags, yes: values.yes, force: values.force });
    case "bench": {
      if (args.length > 0) throw usageError(`usage: cozebus ${BENCH_USAGE}`);
      const messages = int("messages", values.messages);
      const rounds = int("rounds", values.rounds);
      const rates = values.rates?.split(",").map((r) => int("rates", r.trim())!);
      let seconds: number | undefined;
      if (values.seconds !== undefined) {
        seconds = Number(values.seconds);
        if (!(seconds > 0 && seconds <= 600)) throw usageError(`--seconds needs a number of seconds above 0 and at most 600, got ${JSON.stringify(values.seconds)}`);
      }
      return benchCommand({
        ...flags,
        quick: values.quick,
        ...(messages !== undefined ? { messages } : {}),
        ...(rounds !== undefined ? { rounds } : {}),
        ...(rates !== undefined ? { rates } : {}),
        ...(seconds !== undefined ? { seconds } : {}),
        ...(values.only !== undefined ? { only: parseSections(values.only) } : {}),
        ...(values.report !== undefined ? { report: values.report } : {}),
      });
    }
    case "doctor":
      if (args.length > 0) throw usageError("usage: cozebus doctor [--monitor <url>] [--coze-studio] [--json]");
      return doctorCommand({ ...flags, ...(values.monitor !== undefined ? { monitor: values.monitor } : {}), ...(values["coze-studio"] ? { cozeStudio: true } : {}) });
    case "dlq": {
      const limit = int("limit", values.limit);
      return dlqCommand(args, { ...flags, ...schemas, all: values.all, ...(limit !== undefined ? { limit } : {}), ...(values.reason !== undefined ? { reason: values.reason } : {}) });
    }
    default:
      throw usageError(`unknown command "${command}"; see cozebus --help`);
  }
}

/** Bad input (exit 2) versus a failed operation (exit 1). */
function exitCodeOf(err: unknown): 1 | 2 {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof CozebusError) return err.code === "CONFIG_INVALID" || err.code === "SUBJECT_INVALID" ? 2 : 1;
  if ((err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) return 2;
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`cozebus: ${(err as Error).message ?? String(err)}\n`);
    process.exit(exitCodeOf(err));
  },
);
