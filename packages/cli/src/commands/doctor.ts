import {
  AuthError,
  ConfigError,
  FEATURES,
  TlsError,
  describeConfig,
  resolveConfig,
  PermissionError,
  versionAtLeast,
  type Bus,
  type ResolvedConfig,
  type ServerFeature,
  provisionedBy,
} from "@cozebus/nats";
import type { QualityOfService, Transport, TransportFeatures } from "@cozebus/core";
import { busOptions, connectBus, mqTypeOf, type GlobalFlags } from "../connect.js";
import { diagnosePulsar } from "./doctor-pulsar.js";
import { doctorCozeNats } from "./doctor-coze.js";
import { wantedStreams, type WantedStream } from "../domains.js";

export interface DoctorFlags extends GlobalFlags {
  /** The server's monitoring endpoint, e.g. http://127.0.0.1:8222 (or NATS_MONITOR_URL). */
  readonly monitor?: string;
  /** --coze-studio: also check Coze Studio's legacy bus (found by itself when the broker holds Coze's topics or streams). */
  readonly cozeStudio?: boolean;
}

/** One thing the doctor looked at. Every warn and fail carries the fix. */
export interface Finding {
  readonly check: "config" | "connect" | "auth" | "tls" | "server" | "jetstream" | "stream" | "namespace" | "topics" | "dead-letters" | "monitoring" | "coze-studio" | "transport";
  /** `info`: nothing wrong, but worth knowing (a difference between cozebus and Coze's Go side). */
  readonly status: "ok" | "info" | "warn" | "fail" | "skip";
  readonly detail: string;
  readonly fix?: string;
  /** The transport check: `transport.features(qos)` for each quality of service. */
  readonly features?: Readonly<Record<QualityOfService, TransportFeatures>>;
}

const QOS: readonly QualityOfService[] = ["at-most-once", "at-least-once"];

/** The transport's declared features per quality of service (what the typed layer uses, emulates or refuses), as a finding. */
export function transportFinding(transport: Transport): Finding {
  const features = Object.fromEntries(QOS.map((q) => [q, transport.features(q)])) as Record<QualityOfService, TransportFeatures>;
  const effective = QOS.map((q) => `${q} -> ${transport.effectiveQos(q)}`).join(", ");
  return { check: "transport", status: "ok", detail: `${transport.name} transport (subject root ${transport.subjectRoot}); delivery: ${effective}; features:`, features };
}

/** The features table under the transport finding: one row per feature, a column per quality of service. */
function featureTable(features: Readonly<Record<QualityOfService, TransportFeatures>>): string {
  const names = Object.keys(features["at-least-once"]) as Array<keyof TransportFeatures>;
  const rows = [["feature", ...QOS], ...names.map((n) => [n, ...QOS.map((q) => (features[q][n] ? "yes" : "no"))])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => `${" ".repeat(19)}${r.map((c, i) => c.padEnd(widths[i]!)).join("  ")}`.trimEnd()).join("\n");
}

/** The oldest nats-server cozebus is tested against (REFERENCE.md). */
const MIN_SERVER = "2.9.0";

const FIX = {
  connect: "check that nats-server runs and that NATS_SERVER_URL (or --server) names it: host, port, nats:// or tls://",
  auth: "set the credentials this server expects: NATS_USERNAME + NATS_PASSWORD, NATS_TOKEN, NATS_NKEY_SEED, NATS_JWT_TOKEN + NATS_NKEY_SEED, or NATS_CREDS_FILE (one method only)",
  tls: "make both sides agree: tls:// URLs with NATS_TLS_CA_FILE (and NATS_TLS_CERT_FILE + NATS_TLS_KEY_FILE when the server verifies clients), or nats:// URLs when the server has no TLS",
  jetstream: "start nats-server with -js (or a jetstream {} block in nats.conf) and enable JetStream for the account; or set NATS_USE_JETSTREAM=false to send every event over core NATS (at-most-once)",
  jetstreamRoute: "set NATS_JS_DOMAIN to the domain in the JetStream server's jetstream { domain } (or NATS_JS_API_PREFIX to the imported API prefix), and make sure the server you connect to reaches it (a leaf node's remote); or set NATS_USE_JETSTREAM=false",
  permission: "grant this user the permissions named above in the server's authorization, or set NATS_INBOX_PREFIX to the inbox prefix it is allowed",
  streams: "run cozebus streams apply",
} as const;

const isLoopback = (url: string): boolean => {
  try {
    return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(url).hostname);
  } catch {
    return false;
  }
};

const gib = (bytes: number): string => (bytes < 0 ? "unlimited" : `${(bytes / 1024 ** 3).toFixed(2)} GiB`);

/**
 * `cozebus doctor`: walks from configuration to connection, TLS, server
 * version, JetStream and its limits, the streams the schemas want, dead
 * letters and (when given) the monitoring endpoint. Each finding says what
 * is wrong and how to fix it; exit 1 when anything failed.
 */
export async function doctorCommand(flags: DoctorFlags): Promise<number> {
  const findings: Finding[] = [];
  const report = (f: Finding): void => {
    findings.push(f);
    if (flags.json) process.stdout.write(`${JSON.stringify(f)}\n`);
    else {
      const label = { ok: "ok  ", info: "info", warn: "WARN", fail: "FAIL", skip: "skip" }[f.status];
      process.stdout.write(`${label}  ${f.check.padEnd(12)} ${f.detail}\n`);
      if (f.fix !== undefined) process.stdout.write(`${" ".repeat(19)}fix: ${f.fix}\n`);
      if (f.features !== undefined) process.stdout.write(`${featureTable(f.features)}\n`);
    }
  };
  await diagnose(flags, report);
  const failed = findings.filter((f) => f.status === "fail").length;
  const warned = findings.filter((f) => f.status === "warn").length;
  if (!flags.json) process.stdout.write(`\n${failed} failed, ${warned} warnings, ${findings.length} checks\n`);
  return failed > 0 ? 1 : 0;
}

async function diagnose(flags: DoctorFlags, report: (f: Finding) => void): Promise<void> {
  try {
    if (mqTypeOf(flags) === "pulsar") return await diagnosePulsar(flags, report);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    report({ check: "config", status: "fail", detail: err.message, fix: "set COZE_MQ_TYPE to nats or pulsar (unset means nats)" });
    return;
  }
  let config: ResolvedConfig;
  try {
    config = resolveConfig(busOptions(flags));
    report({ check: "config", status: "ok", detail: describeConfig(config) });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    report({ check: "config", status: "fail", detail: err.message, fix: "correct the variable named above; cozebus --help lists them" });
    return;
  }

  let bus: Bus;
  try {
    bus = await connectBus(flags);
  } catch (err) {
    const message = (err as Error).message;
    if (err instanceof AuthError) report({ check: "connect", status: "fail", detail: message, fix: FIX.auth });
    else if (err instanceof TlsError) report({ check: "connect", status: "fail", detail: message, fix: FIX.tls });
    else report({ check: "connect", status: "fail", detail: message, fix: FIX.connect });
    await checkMonitoring(flags, report, config.streamReplicas);
    return;
  }
  try {
    const inbox = config.inboxPrefix !== undefined ? `; inboxes under ${config.inboxPrefix} (NATS_INBOX_PREFIX)` : "";
    report({ check: "connect", status: "ok", detail: `connected to ${bus.server.name || bus.server.id} (${config.servers.join(", ")})${inbox}` });
    checkTls(config, report);
    checkServer(bus, report);
    const specs = await checkJetStream(bus, config, report);
    if (specs !== undefined) await checkStreams(bus, specs, report);
    await checkMonitoring(flags, report, config.streamReplicas);
    await doctorCozeNats(bus, flags, specs !== undefined, report);
    report(transportFinding(bus.transport));
  } finally {
    await bus.close().catch(() => undefined);
  }
}

function checkTls(config: ResolvedConfig, report: (f: Finding) => void): void {
  if (config.tls !== undefined) {
    const mutual = config.tls.certFile !== undefined;
    report({ check: "tls", status: "ok", detail: `TLS on${mutual ? " with a client certificate (mutual TLS)" : ""}${config.tls.caFile ? `, CA ${config.tls.caFile}` : ", system CAs"}` });
    return;
  }
  const remote = config.servers.filter((s) => !isLoopback(s));
  if (remote.length === 0) report({ check: "tls", status: "ok", detail: "plaintext, loopback only" });
  else report({ check: "tls", status: "warn", detail: `plaintext to ${remote.join(", ")}: credentials and events cross the network unencrypted`, fix: "enable TLS on the server and use tls:// URLs with NATS_TLS_CA_FILE" });
}

function checkServer(bus: Bus, report: (f: Finding) => void): void {
  const { version } = bus.server;
  if (!versionAtLeast(version, MIN_SERVER)) {
    report({ check: "server", status: "fail", detail: `nats-server ${version} is older than ${MIN_SERVER}, the oldest cozebus supports`, fix: `upgrade nats-server to ${MIN_SERVER} or later` });
    return;
  }
  const all = Object.keys(FEATURES) as ServerFeature[];
  const used = all.filter((f) => bus.server.supports(f));
  const lacking = all.filter((f) => !bus.server.supports(f));
  const where = `nats-server ${version}${bus.server.cluster ? `, cluster ${bus.server.cluster}` : ""}`;
  report({ check: "server", status: "ok", detail: `${where}; uses: ${used.length > 0 ? used.map((f) => `${f} (${FEATURES[f].uses})`).join("; ") : "none of the newer features"}` });
  if (lacking.length > 0) {
    const newest = lacking.map((f) => FEATURES[f].since).sort((a, b) => (versionAtLeast(a, b) ? -1 : 1))[0]!;
    report({
      check: "server",
      status: "warn",
      detail: `${where} lacks, and cozebus falls back: ${lacking.map((f) => `${f} (since ${FEATURES[f].since}): ${FEATURES[f].fallback}`).join("; ")}`,
      fix: `upgrade nats-server to ${newest} or later to use them`,
    });
  }
}

/** Returns the streams the schemas want when JetStream is usable (so they are worth checking), else undefined. */
async function checkJetStream(bus: Bus, config: ResolvedConfig, report: (f: Finding) => void): Promise<readonly WantedStream[] | undefined> {
  if (config.useJetStream === false) {
    report({ check: "jetstream", status: "skip", detail: "NATS_USE_JETSTREAM=false: every event goes over core NATS (at-most-once); no streams are needed" });
    return undefined;
  }
  let account;
  let api: string;
  try {
    const js = await bus.jetstream();
    account = await js.jsm.getAccountInfo();
    // Which JetStream answered: the API prefix nats.js used, and the domain the server reports.
    api = `API ${js.routing.apiPrefix}${account.domain ? `, domain ${account.domain}` : ""}`;
  } catch (err) {
    const fix = err instanceof PermissionError ? FIX.permission : config.jetstreamApi.kind === "default" ? FIX.jetstream : FIX.jetstreamRoute;
    report({ check: "jetstream", status: "fail", detail: `JetStream is not available: ${(err as Error).message}`, fix });
    return undefined;
  }
  const l = account.limits;
  report({
    check: "jetstream",
    status: "ok",
    detail: `available (${api}): storage ${gib(account.storage)} used of ${gib(l.max_storage)}, memory ${gib(account.memory)} used of ${gib(l.max_memory)}, streams ${account.streams}${l.max_streams > 0 ? `/${l.max_streams}` : ""}, consumers ${account.consumers}${l.max_consumers > 0 ? `/${l.max_consumers}` : ""}`,
  });
  if (config.streamReplicas > 1 && bus.server.cluster === undefined) {
    report({ check: "jetstream", status: "fail", detail: `NATS_STREAM_REPLICAS=${config.streamReplicas} but this server is not part of a cluster`, fix: "set NATS_STREAM_REPLICAS=1, or connect to a JetStream cluster with at least that many servers" });
  }
  const specs = await wantedStreams(bus);
  const needed = specs.reduce((sum, { spec: s }) => sum + s.limits.maxBytes * s.replicas, 0);
  if (l.max_storage > 0 && needed > l.max_storage) {
    report({
      check: "jetstream",
      status: "warn",
      detail: `the streams may grow to ${gib(needed)} but the account may store ${gib(l.max_storage)}: publishes will be refused once it is full`,
      fix: "raise the account's JetStream storage limit, or give the streams smaller maxBytes",
    });
  }
  return specs;
}

async function checkStreams(bus: Bus, wanted: readonly WantedStream[], report: (f: Finding) => void): Promise<void> {
  const js = await bus.jetstream();
  const dlq = js.deadLetterStream().name;
  let deadLetters = 0;
  for (const { spec } of wanted) {
    const c = await js.checkStream(spec);
    if (c.status === "missing") {
      report({ check: "stream", status: "warn", detail: `${spec.name} does not exist: JetStream events on ${spec.subjects.join(", ")} are refused`, fix: FIX.streams });
      continue;
    }
    if (spec.name === dlq) deadLetters = c.info.state.messages;
    const d = c.drift;
    const builds = provisionedBy(c.info.config);
    const by = builds.length > 0 ? `; provisioned by ${builds.map((b) => b.build).join(", ")}` : bus.server.supports("stream-metadata") ? "; no build recorded in its metadata" : "";
    if (d.fixed.length > 0) {
      report({ check: "stream", status: "fail", detail: `${spec.name}: ${d.fixed.join("; ")}`, fix: "these cannot change in place: migrate the events to a new stream, or configure cozebus like the server" });
    }
    if (d.capturesRequests.length > 0) {
      report({ check: "stream", status: "fail", detail: `${spec.name}: ${d.capturesRequests.join("; ")}`, fix: "cozebus streams prune lists the subject; cozebus streams prune --yes removes it" });
    }
    if (d.missingSubjects.length + d.raise.length > 0) {
      const what = [...d.missingSubjects.map((x) => `subject ${x} missing (its events are refused)`), ...d.raise.map((x) => `${x} wanted`)];
      report({ check: "stream", status: "warn", detail: `${spec.name} lacks what these schemas need: ${what.join("; ")}`, fix: `${FIX.streams} (adds these in place)` });
    }
    if (d.conflicts.length > 0) {
      report({ check: "stream", status: "warn", detail: `${spec.name}: ${d.conflicts.join("; ")}`, fix: "another build or an operator set these; if no running build needs them: cozebus streams prune --yes" });
    }
    if (d.extraSubjects.length > 0) {
      report({
        check: "stream",
        status: "warn",
        detail: `${spec.name} keeps subjects no event of these schemas publishes on: ${d.extraSubjects.join(", ")} (a newer or older build's, during a rolling upgrade)${by}`,
        fix: "once no running build publishes there: cozebus streams prune --yes",
      });
    }
    if (c.status === "matches") report({ check: "stream", status: "ok", detail: `${spec.name} matches the schemas (${c.info.state.messages} messages)${by}` });
  }
  if (deadLetters > 0) {
    report({ check: "dead-letters", status: "warn", detail: `${deadLetters} events in ${dlq}`, fix: "cozebus dlq list shows why; fix the handler, then cozebus dlq replay <seq> or --all" });
  }
}

/** GETs JSON from the monitoring endpoint, bounded in time. */
async function getJson(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

async function checkMonitoring(flags: DoctorFlags, report: (f: Finding) => void, replicas: number): Promise<void> {
  const base = flags.monitor ?? process.env["NATS_MONITOR_URL"];
  if (base === undefined || base === "") {
    report({ check: "monitoring", status: "skip", detail: "no --monitor (or NATS_MONITOR_URL) given, e.g. http://127.0.0.1:8222" });
    return;
  }
  const root = base.replace(/\/+$/, "");
  let varz: Record<string, unknown>;
  try {
    varz = await getJson(`${root}/varz`);
  } catch (err) {
    report({ check: "monitoring", status: "fail", detail: `${root}/varz: ${(err as Error).message}`, fix: "start nats-server with -m <port> (or http_port in nats.conf) and pass that URL" });
    return;
  }
  const num = (o: Record<string, unknown> | undefined, k: string): number => (typeof o?.[k] === "number" ? (o[k]) : 0);
  report({ check: "monitoring", status: "ok", detail: `${root}: nats-server ${String(varz["version"])}, ${num(varz, "connections")} connections, ${(num(varz, "mem") / 1024 ** 2).toFixed(0)} MiB memory` });
  const slow = num(varz, "slow_consumers");
  if (slow > 0) {
    report({ check: "monitoring", status: "warn", detail: `the server has cut off ${slow} slow consumers since it started: those subscribers lost core messages`, fix: "find the subscriber that falls behind (nats-server logs name it); raise its concurrency or add queue-group members" });
  }
  try {
    const jsz = await getJson(`${root}/jsz`);
    const meta = jsz["meta_cluster"] as { name?: string; leader?: string; cluster_size?: number } | undefined;
    if (meta?.cluster_size !== undefined) {
      if (replicas > meta.cluster_size) {
        report({
          check: "monitoring",
          status: "fail",
          detail: `NATS_STREAM_REPLICAS=${replicas} but JetStream cluster ${meta.name ?? "?"} has ${meta.cluster_size} servers`,
          fix: `set NATS_STREAM_REPLICAS to at most ${meta.cluster_size}, or add servers to the cluster`,
        });
      } else report({ check: "monitoring", status: "ok", detail: `JetStream cluster ${meta.name ?? "?"}: ${meta.cluster_size} servers, meta leader ${meta.leader ?? "none"}` });
    }
    const cfg = jsz["config"] as Record<string, unknown> | undefined;
    const max = num(cfg, "max_storage");
    const used = num(jsz, "storage");
    if (max > 0 && used / max > 0.8) {
      report({ check: "monitoring", status: "warn", detail: `JetStream storage is ${((used / max) * 100).toFixed(0)}% full (${gib(used)} of ${gib(max)})`, fix: "raise max_file_store, lower the streams' max_age or max_bytes, or consume the backlog" });
    } else if (max > 0) {
      report({ check: "monitoring", status: "ok", detail: `JetStream storage ${gib(used)} of ${gib(max)} on this server` });
    }
  } catch (err) {
    report({ check: "monitoring", status: "warn", detail: `${root}/jsz: ${(err as Error).message}`, fix: "JetStream is likely off on this server; see the jetstream finding" });
  }
}
