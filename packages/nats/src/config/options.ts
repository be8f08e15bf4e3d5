import type { HandlerError } from "../errors.js";

/** How the client proves who it is. Exactly one method per connection. */
export type AuthOptions =
  | { readonly method: "none" }
  | { readonly method: "token"; readonly token: string }
  | { readonly method: "user-password"; readonly user: string; readonly password: string }
  /** `seed` is either the seed itself ("SU...") or a path to a file holding it. */
  | { readonly method: "nkey"; readonly seed: string }
  /** A user JWT plus the seed (or seed file) that signs the server's nonce. */
  | { readonly method: "jwt"; readonly jwt: string; readonly seed: string }
  /** A `.creds` file as written by `nsc` (JWT + seed). */
  | { readonly method: "creds"; readonly file: string };

export interface TlsFileOptions {
  /** CA bundle the server's certificate must chain to. */
  readonly caFile?: string;
  /** Client certificate and key, for servers that verify clients (mutual TLS). */
  readonly certFile?: string;
  readonly keyFile?: string;
}

export interface ReconnectOptions {
  /** Attempts per server before giving up; -1 (the default) retries forever. */
  readonly maxAttempts?: number;
  /** Wait between attempts on the same server (default 1000 ms). */
  readonly waitMs?: number;
  /** Random extra wait, so a fleet does not reconnect in lockstep (default 500 ms, 1000 ms with TLS). */
  readonly jitterMs?: number;
}

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * Options for a bus. Each one wins over its environment variable, which wins
 * over the default. Every value is validated: a bad one is a `ConfigError`
 * that names the option or variable.
 */
export interface BusOptions {
  /** Server URLs (`nats://` or `tls://`), or a comma-separated list. Env: NATS_SERVER_URL, then MQ_NAME_SERVER. */
  readonly servers?: string | readonly string[];
  /** Env: NATS_TOKEN, NATS_USERNAME + NATS_PASSWORD, NATS_NKEY_SEED, NATS_JWT_TOKEN + NATS_NKEY_SEED, NATS_CREDS_FILE. */
  readonly auth?: AuthOptions;
  /** TLS files; `true` for TLS with the system's CAs. Env: NATS_TLS_CA_FILE, NATS_TLS_CERT_FILE, NATS_TLS_KEY_FILE. */
  readonly tls?: TlsFileOptions | boolean;
  /** Replicas for provisioned streams, 1 to 5. Env: NATS_STREAM_REPLICAS (default 1). */
  readonly streamReplicas?: number;
  /** Force every event of this bus onto JetStream (true) or core (false); unset keeps each schema's default. Env: NATS_USE_JETSTREAM. */
  readonly useJetStream?: boolean;
  /** Root of every subject, replacing `coze` in schema templates (multi-tenant deployments). Env: NATS_SUBJECT_PREFIX (default `coze`). */
  readonly subjectPrefix?: string;
  /**
   * Prefix of this connection's reply inboxes (requests, JetStream publish
   * acks and pulls), replacing `_INBOX`: for users whose permissions allow
   * only their own inbox, e.g. `_INBOX_svc` for `_INBOX_svc.>`. Env: NATS_INBOX_PREFIX.
   */
  readonly inboxPrefix?: string;
  /**
   * The JetStream domain to talk to, e.g. `hub` when this service connects
   * to a leaf node and JetStream runs in the hub's domain. Streams,
   * consumers, pulls and dead letters all go through it. Not with
   * `jetstreamApiPrefix`. Env: NATS_JS_DOMAIN.
   */
  readonly jetstreamDomain?: string;
  /**
   * The JetStream API subject prefix, replacing `$JS.API`, for a JetStream
   * imported from another account. Not with `jetstreamDomain`. Env: NATS_JS_API_PREFIX.
   */
  readonly jetstreamApiPrefix?: string;
  /** The CloudEvents `ce-source` of events this process publishes (default `/cozebus/<connection name>`). */
  readonly source?: string;
  /** Connection name shown by the server's monitoring (default `cozebus-<pid>`). */
  readonly name?: string;
  readonly reconnect?: ReconnectOptions;
  /** Time allowed for the first connection (default 5000 ms). */
  readonly connectTimeoutMs?: number;
  /** Called when a handler throws or rejects, or a message is dropped. Default: log it. */
  readonly onError?: (error: HandlerError | Error) => void;
  /** Where cozebus logs connection events (default: console). Never receives secrets. */
  readonly logger?: Logger;
  /** Returns the active W3C `traceparent`, when tracing is in use; added to every published event. */
  readonly traceparent?: () => string | undefined;
  /** Environment to read instead of `process.env` (tests, embedding). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}
