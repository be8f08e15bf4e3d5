import { AuthError, ConfigError, PermissionError, domainClient, type Transport } from "@cozebus/core";
import { DLQ_SUBSCRIPTION, DeadLetters, connectPulsar, describeConfig, resolveConfig, topicLocalName, type PulsarTransport, type ResolvedConfig } from "@cozebus/pulsar";
import { pulsarOptions } from "../connect.js";
import { DOMAINS } from "../domains.js";
import { transportFinding, type DoctorFlags, type Finding } from "./doctor.js";
import { doctorCozePulsar } from "./doctor-coze.js";

const FIX = {
  config: "correct the variable named above (docs/operations.md, Pulsar: environment variables)",
  connect:
    "check that the broker runs and that its web service (admin REST + WebSocket API, webServicePort, default 8080) is where PULSAR_WEB_SERVICE_URL says, or on MQ_NAME_SERVER's hosts at port 8080 when PULSAR_WEB_SERVICE_URL is unset; the WebSocket API must be on (webSocketServiceEnabled=true, as in standalone)",
  noToken: "this broker requires authentication: set PULSAR_JWT_TOKEN to a JWT for a role of it (pulsar tokens create --secret-key ... --subject <role>)",
  badToken: "PULSAR_JWT_TOKEN was refused: use a token signed with the broker's key (tokenSecretKey / tokenPublicKey) that has not expired",
  provision: "run cozebus provision (COZE_MQ_TYPE=pulsar) with a role allowed to create them (the tenant needs a super-user)",
  permission: "grant this role the permission named above (pulsar-admin namespaces grant-permission), or check with a role that has it",
} as const;

const isLoopback = (url: string): boolean => {
  try {
    return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(url).hostname);
  } catch {
    return false;
  }
};

const describeErr = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * `cozebus doctor` on Pulsar (COZE_MQ_TYPE=pulsar): configuration (which
 * variable), the web service's reachability, the token, TLS, the broker,
 * the tenant and namespace, every domain's topics and dead-letter topic
 * against the schemas, pending dead letters, Coze Studio's legacy topics
 * (doctor-coze.ts), and the transport's features.
 */
export async function diagnosePulsar(flags: DoctorFlags, report: (f: Finding) => void): Promise<void> {
  let config: ResolvedConfig;
  try {
    config = resolveConfig(pulsarOptions(flags));
    const d = describeConfig(config);
    report({ check: "config", status: "ok", detail: `COZE_MQ_TYPE=pulsar; ${Object.entries(d).map(([k, v]) => `${k} ${v}`).join("; ")}` });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    report({ check: "config", status: "fail", detail: err.message, fix: FIX.config });
    return;
  }
  if (flags.monitor !== undefined || (process.env["NATS_MONITOR_URL"] ?? "") !== "") {
    report({ check: "monitoring", status: "skip", detail: "--monitor / NATS_MONITOR_URL is nats-server's monitoring endpoint; not used on Pulsar (COZE_MQ_TYPE=pulsar), whose web service is checked below" });
  }

  let transport: PulsarTransport;
  try {
    transport = await connectPulsar({ ...pulsarOptions(flags), onError: () => undefined });
  } catch (err) {
    if (err instanceof AuthError) {
      report({ check: "connect", status: "ok", detail: `web service ${config.webServiceUrls.join(", ")} answers (from ${config.webServiceSource})` });
      report({ check: "auth", status: "fail", detail: describeErr(err), fix: config.token === undefined ? FIX.noToken : FIX.badToken });
    } else report({ check: "connect", status: "fail", detail: describeErr(err), fix: FIX.connect });
    return;
  }
  try {
    const clusters = await transport.admin.clusters();
    report({ check: "connect", status: "ok", detail: `web service ${transport.admin.rest.baseUrl} answers (from ${config.webServiceSource}); clusters: ${clusters.join(", ")}` });
    report({ check: "auth", status: "ok", detail: config.token === undefined ? "no PULSAR_JWT_TOKEN, and the broker lets this client in without one" : "PULSAR_JWT_TOKEN accepted" });
    checkTls(config, report);
    await checkBroker(transport, report);
    if (await checkNamespace(transport, report)) await checkTopics(transport, report);
    await doctorCozePulsar(transport.admin, flags, report);
    report(transportFinding(transport));
  } finally {
    await transport.close().catch(() => undefined);
  }
}

function checkTls(config: ResolvedConfig, report: (f: Finding) => void): void {
  const tls = config.webServiceUrls.every((u) => u.startsWith("https:"));
  if (tls) {
    report({ check: "tls", status: "ok", detail: `TLS on (https/wss)${config.tlsCaFile !== undefined ? `, CA ${config.tlsCaFile}` : ", system CAs"}` });
    return;
  }
  const remote = config.webServiceUrls.filter((u) => !isLoopback(u));
  if (remote.length === 0) report({ check: "tls", status: "ok", detail: "plaintext, loopback only" });
  else
    report({
      check: "tls",
      status: "warn",
      detail: `plaintext to ${remote.join(", ")}: the token and events cross the network unencrypted`,
      fix: "enable TLS on the broker (webServicePortTls, brokerServicePortTls) and use pulsar+ssl:// / https:// URLs with PULSAR_TLS_CA_FILE",
    });
}

async function checkBroker(transport: PulsarTransport, report: (f: Finding) => void): Promise<void> {
  const res = await transport.admin.rest.call("GET", "/admin/v2/brokers/version").catch(() => undefined);
  if (res?.status !== 200) {
    report({ check: "server", status: "skip", detail: `the broker's version is not readable by this role (GET /admin/v2/brokers/version: ${res ? `HTTP ${res.status}` : "no answer"}); cozebus is checked against Pulsar 3.0.7` });
    return;
  }
  const version = res.text().replace(/^"|"$/g, "").trim();
  const [major = 0, minor = 0] = version.split(".").map((n) => Number.parseInt(n, 10));
  if (major < 2 || (major === 2 && minor < 10)) {
    report({ check: "server", status: "warn", detail: `Pulsar ${version}: cozebus is checked against 3.0.7 (the WebSocket API's negativeAckRedeliveryDelay and dead-letter options need 2.10+)`, fix: "upgrade the broker to 3.0 or later" });
  } else report({ check: "server", status: "ok", detail: `Pulsar ${version} (cozebus is checked against 3.0.7)` });
}

/** True when the namespace exists, so its topics are worth checking. */
async function checkNamespace(transport: PulsarTransport, report: (f: Finding) => void): Promise<boolean> {
  const { tenant, namespace } = transport.names;
  try {
    if (!(await transport.admin.tenantExists(tenant))) {
      report({ check: "namespace", status: "fail", detail: `tenant ${tenant} (PULSAR_TENANT) does not exist: nothing can be published or received`, fix: FIX.provision });
      return false;
    }
    if (!(await transport.admin.namespaceExists(tenant, namespace))) {
      report({ check: "namespace", status: "fail", detail: `namespace ${tenant}/${namespace} (PULSAR_NAMESPACE) does not exist: nothing can be published or received`, fix: FIX.provision });
      return false;
    }
  } catch (err) {
    report({ check: "namespace", status: "warn", detail: `cannot check tenant ${tenant} / namespace ${namespace}: ${describeErr(err)}`, fix: err instanceof PermissionError || err instanceof AuthError ? FIX.permission : FIX.connect });
    return false;
  }
  report({ check: "namespace", status: "ok", detail: `tenant ${tenant} and namespace ${tenant}/${namespace} exist` });
  return true;
}

/** Each domain's event topics, its dead-letter topic and the `cozebus-dlq` subscription that keeps dead letters, against the schemas; then pending dead letters. */
async function checkTopics(transport: PulsarTransport, report: (f: Finding) => void): Promise<void> {
  const { tenant, namespace, root } = transport.names;
  const full = (local: string): string => `persistent://${tenant}/${namespace}/${local}`;
  let existing: Set<string>;
  try {
    // Partitions of a partitioned topic are listed by their own names; the topic is its base name.
    existing = new Set((await transport.admin.topics(tenant, namespace)).map((t) => t.replace(/-partition-\d+$/, "")));
  } catch (err) {
    report({ check: "topics", status: "warn", detail: `cannot list the topics of ${tenant}/${namespace}: ${describeErr(err)}`, fix: FIX.permission });
    return;
  }
  const pending: string[] = [];
  for (const { def, build } of DOMAINS) {
    const plan = domainClient(transport as Transport, def, { build }).plan();
    const wanted = [...new Set(plan.events.map((e) => full(topicLocalName(e.template, root))))];
    const missing = wanted.filter((t) => !existing.has(t));
    const extra = [...existing].filter((t) => t.startsWith(full(`${root}.${def.name}.`)) && !wanted.includes(t));
    const dlq = new DeadLetters(transport, def.name);
    let backlog: number | undefined;
    try {
      backlog = existing.has(dlq.topic) ? await dlq.count() : undefined;
    } catch (err) {
      report({ check: "topics", status: "warn", detail: `${def.name}: cannot read the stats of ${dlq.topic}: ${describeErr(err)}`, fix: FIX.permission });
      continue;
    }
    const problems = [
      ...(missing.length > 0 ? [`${missing.length} of ${wanted.length} event topics missing (${missing.map((t) => t.slice(t.lastIndexOf("/") + 1)).join(", ")}): subscriptions there start only when a subscriber creates them`] : []),
      ...(!existing.has(dlq.topic) ? [`dead-letter topic ${dlq.topic} missing`] : backlog === undefined ? [`subscription ${DLQ_SUBSCRIPTION} on ${dlq.topic} missing: Pulsar keeps no dead letters without it`] : []),
    ];
    const also = extra.length > 0 ? `; also ${extra.length} topic(s) no event of these schemas uses (a newer or older build's, during a rolling upgrade): ${extra.map((t) => t.slice(t.lastIndexOf("/") + 1)).join(", ")}` : "";
    if (problems.length > 0) report({ check: "topics", status: "warn", detail: `${def.name} (${build}): ${problems.join("; ")}${also}`, fix: FIX.provision });
    else report({ check: "topics", status: "ok", detail: `${def.name} (${build}): all ${wanted.length} event topics and ${dlq.topic} (subscription ${DLQ_SUBSCRIPTION}) provisioned${also}` });
    if ((backlog ?? 0) > 0) pending.push(`${backlog} in ${dlq.topic}`);
  }
  if (pending.length > 0) {
    report({ check: "dead-letters", status: "warn", detail: `dead letters pending: ${pending.join(", ")}`, fix: "cozebus dlq list shows why; fix the handler, then cozebus dlq replay <id> or --all" });
  } else report({ check: "dead-letters", status: "ok", detail: "no dead letters pending" });
}
