import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { ConfigError } from "@cozebus/core";

export interface MetricsServerOptions {
  /** TCP port (default 9464, the OpenTelemetry Prometheus exporter's; 0 picks a free one). */
  readonly port?: number;
  /** Address to bind (default 127.0.0.1; `0.0.0.0` for a Kubernetes probe or a Prometheus in another pod). */
  readonly host?: string;
  /**
   * `/readyz` answers 200 while this says true (connected, subscriptions
   * live): 503 otherwise, and always 503 once the transport drains or closes.
   * A throw or rejection counts as not ready.
   */
  readonly ready?: () => boolean | Promise<boolean>;
}

export const DEFAULT_METRICS_PORT = 9464;
export const DEFAULT_METRICS_HOST = "127.0.0.1";

/**
 * One small HTTP server for a service's operators: `/metrics` (Prometheus
 * text format, from an OpenTelemetry MeterProvider whose reader is the
 * Prometheus exporter), `/healthz` (200 while the process runs) and
 * `/readyz` (the readiness function). Listening starts at once; `listening`
 * says when it is up (or why not).
 */
export class MetricsServer {
  /** Record into this (instrument() does): what it measures is what /metrics serves. */
  readonly meterProvider: MeterProvider;
  readonly listening: Promise<MetricsServer>;
  readonly #exporter: PrometheusExporter;
  readonly #server: Server;
  readonly #ready: (() => boolean | Promise<boolean>) | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: MetricsServerOptions = {}) {
    const port = options.port ?? DEFAULT_METRICS_PORT;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError("metricsServer.port", `${String(port)} must be an integer from 0 to 65535`);
    const host = options.host ?? DEFAULT_METRICS_HOST;
    this.#ready = options.ready;
    this.#exporter = new PrometheusExporter({ preventServerStart: true });
    this.meterProvider = new MeterProvider({ readers: [this.#exporter] });
    this.#server = createServer((req, res) => void this.#route(req, res));
    this.listening = new Promise<MetricsServer>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, host, () => {
        this.#server.off("error", reject);
        resolve(this);
      });
    });
  }

  get port(): number {
    return (this.#server.address() as AddressInfo | null)?.port ?? 0;
  }

  /** `http://host:port` once listening. */
  get url(): string {
    const a = this.#server.address() as AddressInfo | null;
    if (a === null) return "";
    const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") return text(res, 405, "method not allowed\n");
    switch (path) {
      case "/metrics":
        return this.#exporter.getMetricsRequestHandler(req, res);
      case "/healthz":
        return text(res, 200, "ok\n");
      case "/readyz": {
        let ok = false;
        try {
          ok = this.#closed === undefined && (this.#ready === undefined || (await this.#ready()) === true);
        } catch {
          ok = false;
        }
        return text(res, ok ? 200 : 503, ok ? "ready\n" : "not ready\n");
      }
      default:
        return text(res, 404, "not found: /metrics, /healthz, /readyz\n");
    }
  }

  /** Stops listening and shuts the MeterProvider down; idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await new Promise<void>((resolve) => {
        this.#server.close(() => resolve());
        this.#server.closeAllConnections();
      });
      await this.meterProvider.shutdown().catch(() => undefined);
    })();
    return this.#closed;
  }
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
  res.end(body);
}

/** Starts a metrics server (see MetricsServer); await `.listening` to know it is up. */
export function startMetricsServer(options: MetricsServerOptions = {}): MetricsServer {
  return new MetricsServer(options);
}

/**
 * Reads COZEBUS_METRICS_PORT (and COZEBUS_METRICS_HOST): undefined when the
 * port is unset or empty, a ConfigError naming the variable when it is not a
 * port number.
 */
export function metricsServerFromEnv(env: Readonly<Record<string, string | undefined>>): MetricsServerOptions | undefined {
  const raw = env["COZEBUS_METRICS_PORT"]?.trim();
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) throw new ConfigError("COZEBUS_METRICS_PORT", `${JSON.stringify(raw)} must be a TCP port number from 0 to 65535`);
  const host = env["COZEBUS_METRICS_HOST"]?.trim();
  if (host !== undefined && host !== "" && !/^[A-Za-z0-9.:_[\]-]+$/.test(host)) throw new ConfigError("COZEBUS_METRICS_HOST", `${JSON.stringify(host)} must be a host name or an IP address`);
  return { port: Number(raw), ...(host !== undefined && host !== "" ? { host } : {}) };
}
