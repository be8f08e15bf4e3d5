import { SpanKind, context, propagation, trace, type Span, type SpanContext } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
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

export function memoryTracer(...more: SpanProcessor[]): { provider: BasicTracerProvider; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter), ...more] });
  return { provider, exporter };
}

/** When each span started and ended on the monotonic clock, for ordering spans exactly (span start times have 1 ms resolution). */
export class OrderRecorder implements SpanProcessor {
  readonly #start = new Map<string, number>();
  readonly #end = new Map<string, number>();
  onStart(span: { spanContext(): SpanContext }): void {
    this.#start.set(span.spanContext().spanId, performance.now());
  }
  onEnd(span: ReadableSpan): void {
    this.#end.set(span.spanContext().spanId, performance.now());
  }
  started(s: ReadableSpan): number {
    return this.#start.get(s.spanContext().spanId) ?? Number.NaN;
  }
  ended(s: ReadableSpan): number {
    return this.#end.get(s.spanContext().spanId) ?? Number.NaN;
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
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
