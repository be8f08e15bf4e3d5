/**
 * @cozebus/otel — see what the bus is doing. `instrument(transport)` traces
 * and measures every call through the transport port (any transport: NATS,
 * Pulsar) per the OpenTelemetry messaging conventions; a small HTTP server
 * serves the metrics to Prometheus with /healthz and /readyz.
 */
export { instrument } from "./instrument.js";
export type { InstrumentOptions, InstrumentedTransport } from "./instrument.js";
export { MetricsServer, startMetricsServer, metricsServerFromEnv, DEFAULT_METRICS_HOST, DEFAULT_METRICS_PORT } from "./prometheus.js";
export type { MetricsServerOptions } from "./prometheus.js";
export { DEFAULT_LAG_INTERVAL_MS } from "./gauges.js";
export { ATTR, METRIC, OP_TYPE, DURATION_BUCKETS } from "./semconv.js";
