import { ConfigError } from "../errors.js";

/** The environment variables cozebus reads, with what each expects. */
export const ENV = {
  COZE_MQ_TYPE: "message queue type; must be `nats` when set",
  NATS_SERVER_URL: "comma-separated server URLs, `nats://host:port` or `tls://host:port`",
  MQ_NAME_SERVER: "fallback for NATS_SERVER_URL (`host:port` or URLs)",
  NATS_TOKEN: "token authentication",
  NATS_USERNAME: "user for user/password authentication (needs NATS_PASSWORD)",
  NATS_PASSWORD: "password for user/password authentication (needs NATS_USERNAME)",
  NATS_NKEY_SEED: "an nkey seed (`SU...`) or the path of a file holding one; with NATS_JWT_TOKEN it signs the JWT login",
  NATS_JWT_TOKEN: "user JWT (needs NATS_NKEY_SEED)",
  NATS_CREDS_FILE: "path of a `.creds` file (JWT + seed)",
  NATS_TLS_CA_FILE: "CA bundle (PEM) the server certificate must chain to",
  NATS_TLS_CERT_FILE: "client certificate (PEM) for mutual TLS (needs NATS_TLS_KEY_FILE)",
  NATS_TLS_KEY_FILE: "client key (PEM) for mutual TLS (needs NATS_TLS_CERT_FILE)",
  NATS_STREAM_REPLICAS: "JetStream stream replicas, an integer from 1 to 5",
  NATS_USE_JETSTREAM: "`true` or `false`: force all events onto JetStream or core NATS",
  NATS_SUBJECT_PREFIX: "subject root replacing `coze`, dot-separated tokens of [A-Za-z0-9_-]",
  NATS_INBOX_PREFIX: "prefix of this connection's reply inboxes instead of `_INBOX` (for users allowed only e.g. `_INBOX_svc.>`); no wildcards",
  NATS_JS_DOMAIN: "JetStream domain to use (e.g. `hub` behind a leaf node); one token, not with NATS_JS_API_PREFIX",
  NATS_JS_API_PREFIX: "JetStream API subject prefix instead of `$JS.API` (an imported JetStream); not with NATS_JS_DOMAIN",
} as const;

export type EnvName = keyof typeof ENV;

export type Env = Readonly<Record<string, string | undefined>>;

/** An unset or empty variable counts as absent: `.env` files often carry `NAME=""`. */
export function read(env: Env, name: EnvName): string | undefined {
  const v = env[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  return t === "" ? undefined : t;
}

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);

export function parseBoolean(name: string, raw: string): boolean {
  const v = raw.toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new ConfigError(name, `expected true or false (also 1/0, yes/no, on/off), got ${JSON.stringify(raw)}`);
}

export function parseReplicas(name: string, raw: string | number): number {
  const n = typeof raw === "number" ? raw : /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 5) {
    throw new ConfigError(name, `expected an integer from 1 to 5 (JetStream's replica limit), got ${JSON.stringify(String(raw))}`);
  }
  return n;
}

/** Printable ASCII without spaces: what nats-server accepts in a subject token. */
const SUBJECT_TOKEN = /^[\x21-\x7e]+$/;

function subjectTokens(variable: string, raw: string, what: string, example: string): string[] {
  const tokens = raw.split(".");
  for (const t of tokens) {
    if (t === "*" || t === ">" || t.includes("*") || t.includes(">")) {
      throw new ConfigError(variable, `${JSON.stringify(raw)} contains a wildcard; ${what} must be a literal subject prefix such as ${example}`);
    }
    if (t === "" || !SUBJECT_TOKEN.test(t)) {
      throw new ConfigError(variable, `${JSON.stringify(raw)} is not a valid subject prefix: ${what} is dot-separated, non-empty tokens of printable ASCII without spaces, e.g. ${example}`);
    }
  }
  return tokens;
}

/**
 * The prefix of reply inboxes (nats.js's `inboxPrefix`). Users whose
 * permissions allow only their own inbox (`_INBOX_svc.>`) need it for every
 * request, JetStream publish ack and pull.
 */
export function parseInboxPrefix(variable: string, raw: string): string {
  subjectTokens(variable, raw, "an inbox prefix", "_INBOX_svc");
  return raw;
}

/**
 * A JetStream domain: the server's `jetstream { domain: ... }`. nats-server
 * refuses a domain with `.`, `*`, `>` or whitespace, so one token.
 */
export function parseJsDomain(variable: string, raw: string): string {
  if (!SUBJECT_TOKEN.test(raw) || /[.*>]/.test(raw)) {
    throw new ConfigError(variable, `${JSON.stringify(raw)} is not a JetStream domain: one token of printable ASCII without ".", "*", ">" or spaces, as in the server's jetstream { domain: hub }`);
  }
  return raw;
}

/**
 * A JetStream API prefix (`$JS.API` by default), for a JetStream reached
 * through an account import. One trailing dot is dropped, as nats.js does.
 */
export function parseJsApiPrefix(variable: string, raw: string): string {
  const prefix = raw.endsWith(".") ? raw.slice(0, -1) : raw;
  subjectTokens(variable, prefix, "a JetStream API prefix", "$JS.hub.API or JS.acme.API");
  return prefix;
}
