import { ConfigError } from "@cozebus/core/transport";

/** The environment variables this transport reads, with what each expects. */
export const ENV = {
  COZE_MQ_TYPE: "message queue type; must be `pulsar` for this transport when set",
  MQ_NAME_SERVER: "comma-separated broker service URLs, `pulsar://host:6650` or `pulsar+ssl://host:6651` (as Coze deployments set it)",
  PULSAR_WEB_SERVICE_URL:
    "comma-separated web service URLs (admin REST and WebSocket API), `http://host:8080` or `https://host:8443`; default: MQ_NAME_SERVER's hosts on port 8080 (8443 for pulsar+ssl)",
  PULSAR_JWT_TOKEN: "JWT for token authentication (sent as `Authorization: Bearer` on every WebSocket upgrade and REST call; never logged)",
  PULSAR_TENANT: "tenant of every topic (default `public`)",
  PULSAR_NAMESPACE: "namespace of every topic (default `default`)",
  COZE_SUBJECT_ROOT: "subject root replacing `coze` in templates and topic names, dot-separated tokens of [A-Za-z0-9_-]",
  PULSAR_TLS_CA_FILE: "CA bundle (PEM) the broker's https/wss certificate must chain to",
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

/** Pulsar's rule for tenant and namespace names (NamedEntity): letters, digits, `-`, `_`, `=`, `:`, `.`. */
const NAMED_ENTITY = /^[-=:.\w]+$/;

export function parseEntity(variable: string, raw: string, what: string): string {
  if (!NAMED_ENTITY.test(raw)) {
    throw new ConfigError(variable, `${JSON.stringify(raw)} is not a valid Pulsar ${what} name: letters, digits and - _ = : . only`);
  }
  return raw;
}
