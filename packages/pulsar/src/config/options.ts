import type { Env } from "./env.js";

/** Everything `connectPulsar()` accepts; each option wins over its environment variable. */
export interface PulsarOptions {
  /** Broker service URL(s), `pulsar://host:6650` (MQ_NAME_SERVER). Used to derive the web service URL when that is not given. */
  readonly serviceUrl?: string | readonly string[];
  /** Web service URL(s) for the WebSocket and admin REST APIs (PULSAR_WEB_SERVICE_URL). */
  readonly webServiceUrl?: string | readonly string[];
  /** JWT (PULSAR_JWT_TOKEN). Never logged; `describe()` masks it. */
  readonly token?: string;
  /** Tenant of every topic (PULSAR_TENANT, default `public`). */
  readonly tenant?: string;
  /** Namespace of every topic (PULSAR_NAMESPACE, default `default`). */
  readonly namespace?: string;
  /** Replaces the templates' first token `coze` (COZE_SUBJECT_ROOT, default `coze`). */
  readonly subjectRoot?: string;
  /** CA bundle (PEM) for https/wss (PULSAR_TLS_CA_FILE). */
  readonly tlsCaFile?: string;
  /** The environment to read (default `process.env`); tests pass their own. */
  readonly env?: Env;
  /**
   * The broker's WebSocket text frame limit (its `webSocketMaxTextFrameSize`,
   * default 1 MiB). An event whose frame (JSON with a base64 payload, so
   * about 4/3 of its bytes) would exceed it is refused before sending with a
   * PublishRejectedError: a too-large frame makes the broker close the
   * socket, which would fail every other send in flight on it.
   */
  readonly maxFrameBytes?: number;
  /** How long a publish waits for its receipt, reconnects included (default 30 s), before a PublishTimeoutError. */
  readonly sendTimeoutMs?: number;
  /** Timeout of one WebSocket upgrade or REST call (default 10 s). */
  readonly requestTimeoutMs?: number;
  /**
   * The consumers' `negativeAckRedeliveryDelay` (default 100 ms). A retry
   * outcome asking for a longer delay holds the event (unacked) for the rest
   * of it, then negatively acknowledges it; see docs/operations.md.
   */
  readonly nackDelayMs?: number;
  /** Reconnect backoff of dropped sockets: first and longest wait (default 100 ms .. 5 s). */
  readonly reconnect?: { readonly initialMs?: number; readonly maxMs?: number };
  /** `events: "domain"` subscriptions look for new topics of the domain this often (default 60 s; 0 = only at subscribe time). */
  readonly topicRefreshMs?: number;
  /** Checks on connect that the web service answers and the token is accepted (default true). */
  readonly verify?: boolean;
  /** Errors nobody awaits (a dropped socket, a failed reconnect, a dead letter that could not be stored). Default: console.error. */
  readonly onError?: (error: Error) => void;
}
