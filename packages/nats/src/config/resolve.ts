import { ConfigError } from "../errors.js";
import { checkPrefix } from "../messaging/subject.js";
import { parseBoolean, parseInboxPrefix, parseJsApiPrefix, parseJsDomain, parseReplicas, read, type Env } from "./env.js";
import type { AuthOptions, BusOptions, Logger, TlsFileOptions } from "./options.js";
import { parseServers } from "./servers.js";
import { checkJwt, checkReadable, loadCredsFile, loadUserSeed } from "./secrets.js";

/** Authentication ready for the client; holds secrets, so it is never logged. */
export type ResolvedAuth =
  | { readonly method: "none"; readonly from: string }
  | { readonly method: "token"; readonly from: string; readonly token: string }
  | { readonly method: "user-password"; readonly from: string; readonly user: string; readonly password: string }
  | { readonly method: "nkey"; readonly from: string; readonly seed: Uint8Array }
  | { readonly method: "jwt"; readonly from: string; readonly jwt: string; readonly seed: Uint8Array }
  | { readonly method: "creds"; readonly from: string; readonly creds: Uint8Array };

/**
 * Where this connection's JetStream API lives. nats.js turns a domain into
 * its API prefix; cozebus passes either through as given.
 */
export type JetStreamApiConfig =
  | { readonly kind: "default" }
  | { readonly kind: "domain"; readonly domain: string; readonly from: string }
  | { readonly kind: "api-prefix"; readonly apiPrefix: string; readonly from: string };

export interface ResolvedConfig {
  readonly servers: readonly string[];
  /** undefined: plain TCP; an object (maybe empty): TLS with those files. */
  readonly tls: TlsFileOptions | undefined;
  readonly auth: ResolvedAuth;
  readonly streamReplicas: number;
  readonly useJetStream: boolean | undefined;
  readonly subjectPrefix: string;
  /** Prefix of reply inboxes; undefined: nats.js's default (`_INBOX`). */
  readonly inboxPrefix: string | undefined;
  readonly jetstreamApi: JetStreamApiConfig;
  readonly source: string;
  readonly name: string;
  readonly reconnect: { readonly maxAttempts: number; readonly waitMs: number; readonly jitterMs: number };
  readonly connectTimeoutMs: number;
  readonly logger: Logger;
}

const DEFAULT_SERVER = "nats://127.0.0.1:4222";

/**
 * Merges options over environment over defaults, validating every value.
 * All reading of files (seeds, creds, TLS) happens here, so a bad path is
 * reported when the bus is created rather than at some later reconnect.
 */
export function resolveConfig(options: BusOptions = {}): ResolvedConfig {
  const env: Env = options.env ?? process.env;

  const mqType = read(env, "COZE_MQ_TYPE");
  if (mqType !== undefined && mqType.toLowerCase() !== "nats") {
    throw new ConfigError("COZE_MQ_TYPE", `is ${JSON.stringify(mqType)} but @cozebus/nats only speaks NATS; set it to "nats" or leave it unset`);
  }

  const servers = resolveServers(options, env);
  const tls = resolveTls(options, env, servers.tls);
  const name = options.name ?? `cozebus-${process.pid}`;
  const subjectPrefix =
    options.subjectPrefix !== undefined
      ? checkPrefix("options.subjectPrefix", options.subjectPrefix)
      : checkPrefix("NATS_SUBJECT_PREFIX", read(env, "NATS_SUBJECT_PREFIX") ?? "coze");

  const inboxPrefix = resolveInboxPrefix(options, env, subjectPrefix);
  const jetstreamApi = resolveJetStreamApi(options, env);

  const replicasRaw = read(env, "NATS_STREAM_REPLICAS");
  const streamReplicas =
    options.streamReplicas !== undefined
      ? parseReplicas("options.streamReplicas", options.streamReplicas)
      : replicasRaw !== undefined
        ? parseReplicas("NATS_STREAM_REPLICAS", replicasRaw)
        : 1;

  const jsRaw = read(env, "NATS_USE_JETSTREAM");
  const useJetStream = options.useJetStream ?? (jsRaw !== undefined ? parseBoolean("NATS_USE_JETSTREAM", jsRaw) : undefined);

  const r = options.reconnect ?? {};
  const reconnect = {
    maxAttempts: checkInt("options.reconnect.maxAttempts", r.maxAttempts ?? -1, -1),
    waitMs: checkInt("options.reconnect.waitMs", r.waitMs ?? 1000, 0),
    jitterMs: checkInt("options.reconnect.jitterMs", r.jitterMs ?? (tls ? 1000 : 500), 0),
  };

  return {
    servers: servers.urls,
    tls,
    auth: resolveAuth(options.auth, env),
    streamReplicas,
    useJetStream,
    subjectPrefix,
    inboxPrefix,
    jetstreamApi,
    source: options.source ?? `/cozebus/${name}`,
    name,
    reconnect,
    connectTimeoutMs: checkInt("options.connectTimeoutMs", options.connectTimeoutMs ?? 5000, 1),
    logger: options.logger ?? console,
  };
}

function checkInt(variable: string, n: number, min: number): number {
  if (!Number.isInteger(n) || n < min) throw new ConfigError(variable, `expected an integer >= ${min}, got ${n}`);
  return n;
}

function resolveInboxPrefix(options: BusOptions, env: Env, subjectPrefix: string): string | undefined {
  const variable = options.inboxPrefix !== undefined ? "options.inboxPrefix" : "NATS_INBOX_PREFIX";
  const raw = options.inboxPrefix ?? read(env, "NATS_INBOX_PREFIX");
  if (raw === undefined) return undefined;
  const prefix = parseInboxPrefix(variable, raw);
  // Replies must never land in a stream: every stream cozebus provisions lives under the subject prefix.
  if (prefix === subjectPrefix || prefix.startsWith(`${subjectPrefix}.`)) {
    throw new ConfigError(variable, `${JSON.stringify(prefix)} lies under the subject prefix ${JSON.stringify(subjectPrefix)}, where streams would store replies and acks; pick a prefix outside it, e.g. _INBOX_<service>`);
  }
  return prefix;
}

/**
 * A domain and an API prefix both say where the JetStream API is, so they
 * are one setting: options (either of them) win over the environment, and
 * setting both at one level is refused rather than one silently ignored.
 */
function resolveJetStreamApi(options: BusOptions, env: Env): JetStreamApiConfig {
  if (options.jetstreamDomain !== undefined || options.jetstreamApiPrefix !== undefined) {
    if (options.jetstreamDomain !== undefined && options.jetstreamApiPrefix !== undefined) {
      throw new ConfigError("options.jetstreamDomain", "is set together with options.jetstreamApiPrefix; a domain implies its API prefix ($JS.<domain>.API), so set only one of them");
    }
    if (options.jetstreamDomain !== undefined) {
      return { kind: "domain", domain: parseJsDomain("options.jetstreamDomain", options.jetstreamDomain), from: "options.jetstreamDomain" };
    }
    return { kind: "api-prefix", apiPrefix: parseJsApiPrefix("options.jetstreamApiPrefix", options.jetstreamApiPrefix as string), from: "options.jetstreamApiPrefix" };
  }
  const domain = read(env, "NATS_JS_DOMAIN");
  const apiPrefix = read(env, "NATS_JS_API_PREFIX");
  if (domain !== undefined && apiPrefix !== undefined) {
    throw new ConfigError("NATS_JS_DOMAIN", "is set together with NATS_JS_API_PREFIX; a domain implies its API prefix ($JS.<domain>.API), so set only one of them");
  }
  if (domain !== undefined) return { kind: "domain", domain: parseJsDomain("NATS_JS_DOMAIN", domain), from: "NATS_JS_DOMAIN" };
  if (apiPrefix !== undefined) return { kind: "api-prefix", apiPrefix: parseJsApiPrefix("NATS_JS_API_PREFIX", apiPrefix), from: "NATS_JS_API_PREFIX" };
  return { kind: "default" };
}

function resolveServers(options: BusOptions, env: Env): { urls: string[]; tls: boolean } {
  if (options.servers !== undefined) return parseServers("options.servers", options.servers);
  const primary = read(env, "NATS_SERVER_URL");
  if (primary !== undefined) return parseServers("NATS_SERVER_URL", primary);
  const fallback = read(env, "MQ_NAME_SERVER");
  if (fallback !== undefined) return parseServers("MQ_NAME_SERVER", fallback);
  return parseServers("default", DEFAULT_SERVER);
}

function resolveTls(options: BusOptions, env: Env, urlsWantTls: boolean): TlsFileOptions | undefined {
  let files: TlsFileOptions | undefined;
  let from: "options.tls" | "NATS_TLS_*";
  if (options.tls !== undefined) {
    from = "options.tls";
    if (options.tls === false) {
      if (urlsWantTls) throw new ConfigError("options.tls", "is false but the server URLs are tls://; use nats:// URLs or enable TLS");
      return undefined;
    }
    files = options.tls === true ? {} : options.tls;
  } else {
    from = "NATS_TLS_*";
    const caFile = read(env, "NATS_TLS_CA_FILE");
    const certFile = read(env, "NATS_TLS_CERT_FILE");
    const keyFile = read(env, "NATS_TLS_KEY_FILE");
    if (caFile || certFile || keyFile) {
      files = { ...(caFile ? { caFile } : {}), ...(certFile ? { certFile } : {}), ...(keyFile ? { keyFile } : {}) };
    }
  }
  if (files === undefined) return urlsWantTls ? {} : undefined;
  const name = (k: "caFile" | "certFile" | "keyFile"): string =>
    from === "options.tls" ? `options.tls.${k}` : { caFile: "NATS_TLS_CA_FILE", certFile: "NATS_TLS_CERT_FILE", keyFile: "NATS_TLS_KEY_FILE" }[k];
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    const missing = files.certFile === undefined ? name("certFile") : name("keyFile");
    throw new ConfigError(missing, `is missing: a client certificate needs both ${name("certFile")} and ${name("keyFile")}`);
  }
  if (files.caFile) checkReadable(name("caFile"), files.caFile, "CA");
  if (files.certFile) checkReadable(name("certFile"), files.certFile, "certificate");
  if (files.keyFile) checkReadable(name("keyFile"), files.keyFile, "key");
  return files;
}

function resolveAuth(auth: AuthOptions | undefined, env: Env): ResolvedAuth {
  if (auth !== undefined) return resolveProgrammaticAuth(auth);

  const token = read(env, "NATS_TOKEN");
  const user = read(env, "NATS_USERNAME");
  const password = read(env, "NATS_PASSWORD");
  const seed = read(env, "NATS_NKEY_SEED");
  const jwt = read(env, "NATS_JWT_TOKEN");
  const creds = read(env, "NATS_CREDS_FILE");

  const methods: string[] = [];
  if (token !== undefined) methods.push("token (NATS_TOKEN)");
  if (user !== undefined || password !== undefined) methods.push("user/password (NATS_USERNAME, NATS_PASSWORD)");
  if (jwt !== undefined) methods.push("JWT (NATS_JWT_TOKEN + NATS_NKEY_SEED)");
  else if (seed !== undefined) methods.push("nkey (NATS_NKEY_SEED)");
  if (creds !== undefined) methods.push("creds file (NATS_CREDS_FILE)");
  if (methods.length > 1) {
    throw new ConfigError("NATS_*", `two or more authentication methods are set: ${methods.join(" and ")}; set exactly one`);
  }

  if (token !== undefined) return { method: "token", from: "NATS_TOKEN", token };
  if (user !== undefined || password !== undefined) {
    if (user === undefined) throw new ConfigError("NATS_USERNAME", "is not set but NATS_PASSWORD is; set both or neither");
    if (password === undefined) throw new ConfigError("NATS_PASSWORD", "is not set but NATS_USERNAME is; set both or neither");
    return { method: "user-password", from: "NATS_USERNAME/NATS_PASSWORD", user, password };
  }
  if (jwt !== undefined) {
    if (seed === undefined) throw new ConfigError("NATS_NKEY_SEED", "is not set but NATS_JWT_TOKEN is; a JWT login needs the user's seed to sign the server's nonce");
    return { method: "jwt", from: "NATS_JWT_TOKEN/NATS_NKEY_SEED", jwt: checkJwt("NATS_JWT_TOKEN", jwt), seed: loadUserSeed("NATS_NKEY_SEED", seed) };
  }
  if (seed !== undefined) return { method: "nkey", from: "NATS_NKEY_SEED", seed: loadUserSeed("NATS_NKEY_SEED", seed) };
  if (creds !== undefined) return { method: "creds", from: "NATS_CREDS_FILE", creds: loadCredsFile("NATS_CREDS_FILE", creds) };
  return { method: "none", from: "no credentials configured" };
}

function resolveProgrammaticAuth(auth: AuthOptions): ResolvedAuth {
  const from = "options.auth";
  const nonEmpty = (field: string, v: string): string => {
    if (typeof v !== "string" || v.trim() === "") throw new ConfigError(`options.auth.${field}`, "must be a non-empty string");
    return v;
  };
  switch (auth.method) {
    case "none":
      return { method: "none", from };
    case "token":
      return { method: "token", from, token: nonEmpty("token", auth.token) };
    case "user-password":
      return { method: "user-password", from, user: nonEmpty("user", auth.user), password: nonEmpty("password", auth.password) };
    case "nkey":
      return { method: "nkey", from, seed: loadUserSeed("options.auth.seed", nonEmpty("seed", auth.seed)) };
    case "jwt":
      return {
        method: "jwt",
        from,
        jwt: checkJwt("options.auth.jwt", nonEmpty("jwt", auth.jwt)),
        seed: loadUserSeed("options.auth.seed", nonEmpty("seed", auth.seed)),
      };
    case "creds":
      return { method: "creds", from, creds: loadCredsFile("options.auth.file", nonEmpty("file", auth.file)) };
    default:
      throw new ConfigError("options.auth.method", `unknown method ${JSON.stringify((auth as { method: unknown }).method)}; expected none, token, user-password, nkey, jwt or creds`);
  }
}

/** A summary safe to log: which servers, which auth method from where, never a secret. */
export function describeConfig(c: ResolvedConfig): string {
  const tls = c.tls === undefined ? "off" : c.tls.certFile ? "mutual" : "on";
  const inbox = c.inboxPrefix === undefined ? "" : ` inbox=${c.inboxPrefix}`;
  const api = c.jetstreamApi;
  const js = api.kind === "domain" ? ` js-domain=${api.domain}` : api.kind === "api-prefix" ? ` js-api=${api.apiPrefix}` : "";
  return `servers=${c.servers.join(",")} tls=${tls} auth=${c.auth.method} (${c.auth.from}) prefix=${c.subjectPrefix}${inbox}${js} replicas=${c.streamReplicas}`;
}
