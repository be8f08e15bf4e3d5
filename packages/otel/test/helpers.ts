import { SpanKind, context, propagation, trace, type Span, type SpanContext } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { expect } from "vitest";

/** What a Node service gets from the SDK: an AsyncLocalStorage context manager and the W3C propagator, registered globally. */
export function registerGlobals(): () => void {
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return () => {
    manager.disable();
    context.disable();
    propagation.disable();
  };
}

export function memoryTracer(): { provider: BasicTracerProvider; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { provider, exporter };
}

/** Runs `fn` inside a fresh root span (ended after), as a service's own request span would be. */
export async function inRootSpan<T>(provider: BasicTracerProvider, name: string, fn: (root: Span) => Promise<T>): Promise<T> {
  const root = provider.getTracer("test").startSpan(name, { kind: SpanKind.INTERNAL });
  try {
    return await context.with(trace.setSpan(context.active(), root), () => fn(root));
  } finally {
    root.end();
  }
}

export const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;
export const idOf = (s: { spanContext(): SpanContext }): string => s.spanContext().spanId;
export const traceOf = (s: ReadableSpan): string => s.spanContext().traceId;
export const traceparentOf = (s: ReadableSpan): string => `00-${traceOf(s)}-${idOf(s)}-01`;

/** The one span that passes the filter (fails the test with the candidates otherwise). */
export function only(spans: readonly ReadableSpan[], what: string, pick: (s: ReadableSpan) => boolean): ReadableSpan {
  const found = spans.filter(pick);
  expect(found.map((s) => s.name), what).toHaveLength(1);
  return found[0]!;
}

export const attr = (s: ReadableSpan, key: string): unknown => s.attributes[key];
