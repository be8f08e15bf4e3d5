import { readFileSync } from "node:fs";
import { ConfigError, checkPrefix } from "@cozebus/core/transport";
import { parseEntity, read, type Env } from "./env.js";
import type { PulsarOptions } from "./options.js";
import { deriveWebServiceUrls, parseServiceUrls, parseWebServiceUrls, webSocketBase } from "./urls.js";

export interface ResolvedConfig {
  /** Normalized MQ_NAME_SERVER entries (empty when only the web service URL was given). */
  readonly serviceUrls: readonly string[];
  readonly webServiceUrls: readonly string[];
  /** Where the web service URLs came from, for error messages: the option, PULSAR_WEB_SERVICE_URL, or derived from MQ_NAME_SERVER. */
  readonly webServiceSource: string;
  readonly webSocketUrls: readonly string[];
  readonly token: string | undefined;
  readonly tenant: string;
  readonly namespace: string;
  readonly subjectRoot: string;
  readonly tlsCa: string | undefined;
  readonly tlsCaFile: string | undefined;
  readonly maxFrameBytes: number;
  readonly sendTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly nackDelayMs: number;
  readonly reconnectInitialMs: number;
  readonly reconnectMaxMs: number;
  readonly topicRefreshMs: number;
  readonly verify: boolean;
}

function int(variable: string, v: number | undefined, dflt: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min || v > max) throw new ConfigError(variable, `expected an integer from ${min} to ${max}, got ${v}`);
  return v;
}

/** Options > environment > defaults; every value validated, every error naming its option or variable. */
export function resolveConfig(options: PulsarOptions = {}): ResolvedConfig {
  const env: Env = options.env ?? process.env;
  const mqType = read(env, "COZE_MQ_TYPE");
  if (mqType !== undefined && mqType.toLowerCase() !== "pulsar") {
    throw new ConfigError("COZE_MQ_TYPE", `is ${JSON.stringify(mqType)}, but this is the Pulsar transport (@cozebus/pulsar): set COZE_MQ_TYPE=pulsar, or use the transport for ${JSON.stringify(mqType)}`);
  }

  const serviceRaw = options.serviceUrl ?? read(env, "MQ_NAME_SERVER");
  const serviceVar = options.serviceUrl !== undefined ? "options.serviceUrl" : "MQ_NAME_SERVER";
  const service = serviceRaw === undefined ? undefined : parseServiceUrls(serviceVar, serviceRaw);

  const webRaw = options.webServiceUrl ?? read(env, "PULSAR_WEB_SERVICE_URL");
  const webVar = options.webServiceUrl !== undefined ? "options.webServiceUrl" : "PULSAR_WEB_SERVICE_URL";
  let webServiceUrls: string[];
  let webServiceSource: string;
  if (webRaw !== undefined) {
    const web = parseWebServiceUrls(webVar, webRaw);
    if (service && service.tls !== web.tls) {
      throw new ConfigError(webVar, `is ${web.tls ? "https" : "http"} while ${serviceVar} is ${service.tls ? "pulsar+ssl" : "pulsar"}; a TLS broker has a TLS web service (and the other way round)`);
    }
    webServiceUrls = web.urls;
    webServiceSource = webVar;
  } else if (service) {
    webServiceUrls = deriveWebServiceUrls(service);
    webServiceSource = `${serviceVar} (web service derived: same hosts, port ${service.tls ? "8443" : "8080"}; set PULSAR_WEB_SERVICE_URL if it differs)`;
  } else {
    throw new ConfigError("MQ_NAME_SERVER", "no Pulsar broker given: set MQ_NAME_SERVER (e.g. pulsar://pulsar:6650) or PULSAR_WEB_SERVICE_URL (e.g. http://pulsar:8080), or pass serviceUrl / webServiceUrl");
  }

  const token = options.token ?? read(env, "PULSAR_JWT_TOKEN");
  if (token !== undefined && (token.trim() === "" || /[\s]/.test(token.trim()))) {
    throw new ConfigError(options.token !== undefined ? "options.token" : "PULSAR_JWT_TOKEN", "is empty or contains whitespace; expected one JWT (header.payload.signature)");
  }

  const tenant = parseEntity(options.tenant !== undefined ? "options.tenant" : "PULSAR_TENANT", options.tenant ?? read(env, "PULSAR_TENANT") ?? "public", "tenant");
  const namespace = parseEntity(options.namespace !== undefined ? "options.namespace" : "PULSAR_NAMESPACE", options.namespace ?? read(env, "PULSAR_NAMESPACE") ?? "default", "namespace");
  const subjectRoot = checkPrefix(options.subjectRoot !== undefined ? "options.subjectRoot" : "COZE_SUBJECT_ROOT", options.subjectRoot ?? read(env, "COZE_SUBJECT_ROOT") ?? "coze");

  const caVar = options.tlsCaFile !== undefined ? "options.tlsCaFile" : "PULSAR_TLS_CA_FILE";
  const tlsCaFile = options.tlsCaFile ?? read(env, "PULSAR_TLS_CA_FILE");
  let tlsCa: string | undefined;
  if (tlsCaFile !== undefined) {
    try {
      tlsCa = readFileSync(tlsCaFile, "utf8");
    } catch (err) {
      throw new ConfigError(caVar, `cannot read ${JSON.stringify(tlsCaFile)}: ${(err as Error).message}`);
    }
    if (!tlsCa.includes("-----BEGIN CERTIFICATE-----")) throw new ConfigError(caVar, `${JSON.stringify(tlsCaFile)} holds no PEM certificate`);
  }

  const reconnectInitialMs = int("options.reconnect.initialMs", options.reconnect?.initialMs, 100, 1);
  return {
    serviceUrls: service?.urls ?? [],
    webServiceUrls,
    webServiceSource,
    webSocketUrls: webServiceUrls.map(webSocketBase),
    token,
    tenant,
    namespace,
    subjectRoot,
    tlsCa,
    tlsCaFile,
    maxFrameBytes: int("options.maxFrameBytes", options.maxFrameBytes, 1024 * 1024, 1024),
    sendTimeoutMs: int("options.sendTimeoutMs", options.sendTimeoutMs, 30_000, 100),
    requestTimeoutMs: int("options.requestTimeoutMs", options.requestTimeoutMs, 10_000, 100),
    nackDelayMs: int("options.nackDelayMs", options.nackDelayMs, 100, 1),
    reconnectInitialMs,
    reconnectMaxMs: int("options.reconnect.maxMs", options.reconnect?.maxMs, 5000, reconnectInitialMs),
    topicRefreshMs: int("options.topicRefreshMs", options.topicRefreshMs, 60_000, 0),
    verify: options.verify ?? true,
  };
}

/** The config for logs and `cozebus doctor`: the token is masked, everything else shown. */
export function describeConfig(c: ResolvedConfig): Record<string, string> {
  return {
    serviceUrls: c.serviceUrls.join(",") || "(not set)",
    webServiceUrls: `${c.webServiceUrls.join(",")} (from ${c.webServiceSource})`,
    token: c.token === undefined ? "(none)" : `(set, ${c.token.length} chars)`,
    namespace: `${c.tenant}/${c.namespace}`,
    subjectRoot: c.subjectRoot,
    tlsCaFile: c.tlsCaFile ?? "(system CAs)",
    maxFrameBytes: String(c.maxFrameBytes),
  };
}
