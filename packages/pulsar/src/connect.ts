import type { PulsarOptions } from "./config/options.js";
import { resolveConfig, type ResolvedConfig } from "./config/resolve.js";
import { PulsarTransport } from "./transport/pulsar-transport.js";
import { Admin } from "./wire/admin.js";
import { RestClient } from "./wire/rest.js";
import { WebSocketWire } from "./wire/ws-wire.js";

function defaultOnError(e: Error): void {
  console.error(`[cozebus/pulsar] ${e.message}`);
}

/** The REST client and WebSocket wire for a resolved config (also used by DeadLetters). */
export function clientsFor(config: ResolvedConfig, onError: (e: Error) => void = defaultOnError): { admin: Admin; wire: WebSocketWire } {
  const rest = new RestClient({
    baseUrls: config.webServiceUrls,
    source: config.webServiceSource,
    token: config.token,
    ca: config.tlsCa,
    timeoutMs: config.requestTimeoutMs,
  });
  const wire = new WebSocketWire(
    {
      baseUrls: config.webSocketUrls,
      source: config.webServiceSource,
      token: config.token,
      ca: config.tlsCa,
      timeoutMs: config.requestTimeoutMs,
      maxFrameBytes: config.maxFrameBytes,
      sendTimeoutMs: config.sendTimeoutMs,
      reconnectInitialMs: config.reconnectInitialMs,
      reconnectMaxMs: config.reconnectMaxMs,
    },
    onError,
  );
  return { admin: new Admin(rest), wire };
}

/**
 * Resolves the configuration (options > environment > defaults), checks
 * that the web service answers and accepts the token (ConnectError naming
 * where the URL came from; AuthError that never shows the token), and
 * returns the transport. Topic permissions are checked where topics are
 * used: a publish or subscribe the role may not make is a PermissionError
 * naming the topic.
 */
export async function connectPulsar(options: PulsarOptions = {}): Promise<PulsarTransport> {
  const config = resolveConfig(options);
  const onError = options.onError ?? defaultOnError;
  const { admin, wire } = clientsFor(config, onError);
  // Nothing is open before this check (sockets open on first use), so a failure leaves nothing behind.
  if (config.verify) await admin.clusters();
  return new PulsarTransport(config, wire, admin, onError);
}

/** The Pulsar side of `@cozebus/core`'s `connect()` (COZE_MQ_TYPE=pulsar). */
export function openTransport(options: Pick<PulsarOptions, "env" | "onError"> = {}): Promise<PulsarTransport> {
  return connectPulsar(options);
}
