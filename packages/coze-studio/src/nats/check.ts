/**
 * What `cozebus doctor` shows for a Coze Studio deployment: whether the
 * environment makes both sides use the same servers and mode, whether each
 * topic's stream is the one Coze's Go code creates, how each group's
 * consumer differs from what nats.go creates, and the differences cozebus
 * makes on purpose (KNOWN_DIFFERENCES). Reads only; never changes anything.
 */
import type { Bus, RetryPolicyInput } from "@cozebus/nats";
import { modeFromEnv, type CozeMode, type Env } from "../config.js";
import { COZE_TOPICS } from "../topics.js";
import { consumerSettings } from "./consumer.js";
import { durableOf, GO_CONSUMER, goStreamConfig, streamNameOf, streamSpecOf } from "./naming.js";

export type CheckStatus = "ok" | "info" | "warn" | "fail";

export interface CozeCheck {
  readonly status: CheckStatus;
  /** What was checked: `env NATS_USE_JETSTREAM`, `stream opencoze_knowledge_STREAM`, `consumer cg_knowledge`... */
  readonly subject: string;
  readonly message: string;
}

export interface CozeCheckReport {
  readonly mode: CozeMode | undefined;
  readonly checks: readonly CozeCheck[];
  /** No check failed. */
  readonly ok: boolean;
}

/** One deliberate difference between cozebus and Coze's Go event bus, for docs and doctor output. */
export interface KnownDifference {
  readonly what: string;
  readonly go: string;
  readonly cozebus: string;
  readonly why: string;
}

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  {
    what: "message id (JetStream)",
    go: "Nats-Msg-Id = <sharding key>-<index in the batch>, none without a key (producer.go batchSendJetStream)",
    cozebus: "a unique id per message (ce-id = Nats-Msg-Id); the sharding key travels in the Sharding-Key header",
    why: "the stream drops a repeated Nats-Msg-Id within its 2-minute duplicate window: Go loses every index_document but the first of an index_documents fan-out (all share the knowledge id as key)",
  },
  {
    what: "failed handler (JetStream)",
    go: "Nak() at once, no delivery limit: a failing message is redelivered immediately and forever (consumer.go startJetStreamConsumer)",
    cozebus: "nak with exponential backoff (1 s to 60 s), at most retry.maxDeliveries (5) deliveries, then the COZE_DLQ dead-letter stream with the error",
    why: "a poison message must not spin a consumer forever, and a dependency that is down needs time, not a hot loop",
  },
  {
    what: "consumer max_deliver (shared with Go instances of the group)",
    go: "unlimited (-1)",
    cozebus: "retry.maxDeliveries (default 5) on the shared durable consumer; a message that runs out while a Go instance holds it is dead-lettered as abandoned by any cozebus consumer of the group",
    why: "the limit lives on the server consumer, so it applies to Go instances too, whose naks have no delay: while Go consumers share a group, raise maxDeliveries if their failures are transient",
  },
  {
    what: "long handlers (JetStream)",
    go: "no in-progress acks: a handler longer than the 30 s ack wait is delivered again while it still runs",
    cozebus: "in-progress acks while the handler runs (ack wait stays 30 s)",
    why: "indexing a large document takes minutes",
  },
  {
    what: "undecodable payload",
    go: "knowledge: ErrKnowledgeParseJSONCode, retried forever; search: the unmarshal error, retried forever (JetStream) or logged and lost (core)",
    cozebus: "dead-lettered at once with the JSON path of the problem (JetStream); reported as DecodeError (core)",
    why: "retrying cannot fix bytes",
  },
  {
    what: "unknown knowledge event Type / search op_type",
    go: "knowledge: non-retryable, acked and dropped; search: an error, retried forever",
    cozebus: "never acked away: handed back while deliveries remain (another instance may know it), then dead-lettered as unknown-event, to be replayed once a build knows it",
    why: "during a rolling upgrade a newer build's event must not be lost",
  },
  {
    what: "non-retryable handler error",
    go: "knowledge handler: ErrKnowledgeNonRetryableCode is turned into success (ack, drop, log)",
    cozebus: "NonRetryableError: ack and drop, reported as EventDroppedError (nonRetryable: \"dead-letter\" keeps it in COZE_DLQ instead)",
    why: "same outcome as Go by default, but never silent",
  },
  {
    what: "failed handler (core)",
    go: "logged; the message is lost",
    cozebus: "retried in place with backoff up to retry.maxDeliveries, then reported as DeliveryFailedError",
    why: "core NATS cannot redeliver, so the retry has to happen in the process",
  },
  {
    what: "registering a consumer",
    go: "RegisterConsumer returns before its goroutine has subscribed (consumer.go): in core mode, messages sent right after it can be missed",
    cozebus: "registerConsumer resolves once the subscription (or durable consumer) is live",
    why: "a caller that registers and then sends must not lose its first messages",
  },
  {
    what: "stream provisioning",
    go: "StreamInfo on every send (producer) and at registration (consumer); created if missing",
    cozebus: "once per topic per process; created if missing with Go's exact settings; an existing one is only ever extended (never a setting lowered)",
    why: "one API round trip per send halves JetStream throughput",
  },
  {
    what: "server address",
    go: "MQ_NAME_SERVER only",
    cozebus: "MQ_NAME_SERVER (cozeStudioBusOptions), NATS_SERVER_URL only when it is unset",
    why: "join the servers the Go services use",
  },
  {
    what: "credentials",
    go: "first set of NATS_JWT_TOKEN(+NATS_NKEY_SEED as the seed itself), NATS_USERNAME/PASSWORD, NATS_TOKEN wins silently",
    cozebus: "exactly one method or a ConfigError naming both; NATS_NKEY_SEED may also be a path to a seed file",
    why: "a second, ignored credential is a configuration mistake worth hearing about",
  },
  {
    what: "JSON numbers",
    go: "int64 fields exact; map[string]any numbers become float64",
    cozebus: "int64 fields are bigint; integers anywhere (also in extra) stay exact as bigint",
    why: "JSON.parse would round ids above 2^53",
  },
];

/** The JetStream API error code (`err_code`) of a failed request; read structurally, so this package needs no broker client of its own. */
const apiCode = (err: unknown): number | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
};
const CONSUMER_NOT_FOUND = 10014;
const STREAM_NOT_FOUND = 10059;

/** Environment checks only (no server needed). */
export function checkCozeStudioEnv(env: Env = process.env): CozeCheck[] {
  const checks: CozeCheck[] = [];
  const mq = env["COZE_MQ_TYPE"];
  if (mq === "nats") checks.push({ status: "ok", subject: "env COZE_MQ_TYPE", message: "nats" });
  else if (mq === undefined || mq === "") checks.push({ status: "warn", subject: "env COZE_MQ_TYPE", message: 'unset: Coze\'s Go services refuse to start without it ("nats" selects NATS)' });
  else checks.push({ status: "fail", subject: "env COZE_MQ_TYPE", message: `${JSON.stringify(mq)}: Coze's Go services do not use NATS with this value (exactly "nats" selects it)` });

  try {
    const mode = modeFromEnv(env);
    checks.push({ status: "ok", subject: "env NATS_USE_JETSTREAM", message: `${mode} (as Coze's Go code reads it: only the exact string "true" means JetStream)` });
  } catch (err) {
    checks.push({ status: "fail", subject: "env NATS_USE_JETSTREAM", message: (err as Error).message });
  }

  const name = env["MQ_NAME_SERVER"]?.trim();
  const url = env["NATS_SERVER_URL"]?.trim();
  if (!name) checks.push({ status: "warn", subject: "env MQ_NAME_SERVER", message: "unset: Coze's Go services connect only to MQ_NAME_SERVER (they fail with \"server URL is empty\" without it)" });
  else if (url && normalize(url) !== normalize(name)) {
    checks.push({ status: "warn", subject: "env MQ_NAME_SERVER", message: `${name}, but NATS_SERVER_URL is ${url}: Coze's Go code never reads NATS_SERVER_URL; cozebus joins MQ_NAME_SERVER (cozeStudioBusOptions)` });
  } else checks.push({ status: "ok", subject: "env MQ_NAME_SERVER", message: name });

  const replicas = env["NATS_STREAM_REPLICAS"]?.trim();
  if (replicas && replicas !== "1") {
    checks.push({ status: "info", subject: "env NATS_STREAM_REPLICAS", message: `${replicas}: Coze's Go code never reads it and creates streams with 1 replica; cozebus does the same unless given streamReplicas` });
  }
  return checks;
}

const normalize = (servers: string): string =>
  servers
    .split(",")
    .map((s) => s.trim().replace(/^nats:\/\//, "").replace(/\/$/, ""))
    .sort()
    .join(",");

export interface CheckOptions {
  readonly env?: Env;
  /** Default: from the environment, as Coze's Go code reads it. */
  readonly mode?: CozeMode;
  /** Topics and groups to check (default: Coze's three). */
  readonly topics?: ReadonlyArray<{ readonly topic: string; readonly group: string }>;
  /** The retry settings cozebus consumers use here (to tell which consumer values are cozebus's). */
  readonly retry?: RetryPolicyInput;
}

/**
 * Checks a deployment against what Coze's Go code expects: the environment,
 * then (JetStream mode) each topic's stream config field by field against
 * the one Go creates, each group's durable consumer against what nats.go
 * creates and what cozebus sets, and the dead-letter stream. `ok` is false
 * only for a check Coze itself would trip over (a stream or consumer Go
 * cannot use, a mode the two sides read differently).
 */
export async function checkCozeStudio(bus: Bus, options: CheckOptions = {}): Promise<CozeCheckReport> {
  const env = options.env ?? process.env;
  const checks = checkCozeStudioEnv(env);
  let mode: CozeMode | undefined = options.mode;
  if (mode === undefined) {
    try {
      mode = modeFromEnv(env);
    } catch {
      mode = undefined;
    }
  }
  const topics = options.topics ?? COZE_TOPICS;
  if (mode === "core") {
    checks.push({ status: "info", subject: "mode", message: "core NATS: at most once; a message sent while no consumer of its group is subscribed is lost, on both sides" });
  }
  if (mode === "jetstream") {
    const js = await bus.jetstream();
    const ours = consumerSettings(options.retry);
    for (const { topic, group } of topics) {
      const stream = streamNameOf(topic);
      const found = await js.checkStream(streamSpecOf(topic));
      const config = found.status === "missing" ? undefined : (found.info.config as unknown as Record<string, unknown>);
      if (config === undefined) {
        checks.push({ status: "info", subject: `stream ${stream}`, message: "missing: the first Coze or cozebus producer or consumer of the topic creates it (same settings either way)" });
      }
      if (config !== undefined) {
        const want = goStreamConfig(topic);
        const diffs = Object.entries(want)
          .filter(([k, v]) => JSON.stringify(k === "subjects" ? [...((config[k] as string[] | undefined) ?? [])].sort() : config[k]) !== JSON.stringify(v))
          .map(([k, v]) => `${k} is ${JSON.stringify(config[k])} (Go creates ${JSON.stringify(v)})`);
        const missingSubject = !((config["subjects"] as string[] | undefined) ?? []).includes(topic);
        checks.push(
          diffs.length === 0
            ? { status: "ok", subject: `stream ${stream}`, message: "exactly the config Coze's Go code creates" }
            : { status: missingSubject ? "fail" : "warn", subject: `stream ${stream}`, message: diffs.join("; ") },
        );
      }
      const durable = durableOf(group);
      try {
        const c = (await js.jsm.consumers.info(stream, durable)).config;
        const notes: string[] = [];
        let status: CheckStatus = "ok";
        if (c.deliver_subject) {
          status = "fail";
          notes.push(`it is a push consumer (deliver_subject ${c.deliver_subject}): Coze's PullSubscribe cannot bind to it`);
        }
        if (c.filter_subject && c.filter_subject !== topic) {
          status = "fail";
          notes.push(`its filter is ${c.filter_subject}: Coze's PullSubscribe(${topic}) refuses it (subject mismatch)`);
        }
        if (c.max_deliver !== GO_CONSUMER.max_deliver) {
          if (status === "ok") status = "info";
          notes.push(
            `max_deliver ${c.max_deliver} (Go's default: unlimited)${c.max_deliver === ours.maxDeliver ? ", set by cozebus" : ""}: it applies to Go instances of the group too, whose naks have no delay`,
          );
        }
        if (c.ack_wait !== GO_CONSUMER.ack_wait_ms * 1_000_000) {
          if (status === "ok") status = "info";
          notes.push(`ack_wait ${(c.ack_wait ?? 0) / 1_000_000} ms (Go's default: ${GO_CONSUMER.ack_wait_ms} ms)`);
        }
        checks.push({ status, subject: `consumer ${stream}/${durable}`, message: notes.length === 0 ? "as nats.go creates it" : notes.join("; ") });
      } catch (err) {
        if (apiCode(err) !== CONSUMER_NOT_FOUND && apiCode(err) !== STREAM_NOT_FOUND) throw err;
        checks.push({ status: "info", subject: `consumer ${stream}/${durable}`, message: "missing: the first consumer of the group creates it" });
      }
    }
    const dlq = await js.checkStream(js.deadLetterStream());
    checks.push(
      dlq.status === "missing"
        ? { status: "info", subject: `stream ${dlq.stream}`, message: "missing: the first cozebus consumer creates it (Coze's Go code has no dead letters)" }
        : { status: "ok", subject: `stream ${dlq.stream}`, message: `dead letters: ${dlq.info.state.messages} message(s)` },
    );
  }
  return { mode, checks, ok: checks.every((c) => c.status !== "fail") };
}
