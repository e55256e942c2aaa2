/** wirecall/otel against the OpenTelemetry SDK with in-memory exporters. */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, trace, type Context, type ContextManager } from '@opentelemetry/api';
import { AggregationTemporality, MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { RemoteError, Status, connect, type Connection } from '../index.js';
import { Scratch } from '../test-util/scratch.js';
import { startServer } from '../test-util/rpc-server.js';
import { callTracing, streamTracing } from '../rpc/tracing.js';
import { handlerContext, instrumentWirecall, type WirecallInstrumentation } from './index.js';

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** What @opentelemetry/context-async-hooks does, in a few lines: context.with() across awaits. */
class AlsContextManager implements ContextManager {
  private readonly als = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.als.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return this.als.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.als.disable();
    return this;
  }
}
context.setGlobalContextManager(new AlsContextManager());

const scratch = new Scratch();
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await scratch.cleanup();
});

function setup(): { exporter: InMemorySpanExporter; reader: TestReader; tracerProvider: BasicTracerProvider; instrumentation: WirecallInstrumentation } {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const instrumentation = instrumentWirecall({ tracerProvider, meterProvider });
  cleanups.push(() => instrumentation.disable());
  return { exporter, reader, tracerProvider, instrumentation };
}

async function client(): Promise<Connection> {
  const { url } = await startServer(scratch, {}, (s) => {
    s.register('add', (p: { a: number; b: number }) => p.a + p.b);
    s.register('fail', () => {
      throw new TypeError('boom');
    });
    // Calls the client back, within the server span's context.
    s.register('relay', (_p, ctx) => context.with(handlerContext(ctx), () => ctx.connection.call('ping' as never)));
    s.registerStream('count', async function* (p: { n: number }) {
      for (let i = 0; i < p.n; i++) yield i;
    });
  });
  const c = await connect(url, { heartbeatInterval: 0, handlers: { ping: () => 'pong' } });
  cleanups.push(() => c.close({ drainTimeout: 100 }));
  return c;
}

async function metricsOf(reader: TestReader): Promise<Map<string, ResourceMetrics['scopeMetrics'][number]['metrics'][number]>> {
  const { resourceMetrics } = await reader.collect();
  const out = new Map<string, ResourceMetrics['scopeMetrics'][number]['metrics'][number]>();
  for (const scope of resourceMetrics.scopeMetrics) for (const m of scope.metrics) out.set(m.descriptor.name, m);
  return out;
}

describe('wirecall/otel', () => {
  it('makes a client and a server span per call, with rpc.system, rpc.method, kinds and status', async () => {
    const { exporter } = setup();
    const c = await client();
    expect(await c.call('add', { a: 1, b: 2 })).toBe(3);
    await expect(c.call('fail')).rejects.toBeInstanceOf(RemoteError);
    await new Promise((r) => setTimeout(r, 10));
    const spans = exporter.getFinishedSpans();
    const add = spans.filter((s) => s.name === 'add');
    expect(add.map((s) => s.kind).sort()).toEqual([SpanKind.CLIENT, SpanKind.SERVER].sort());
    for (const s of add) {
      expect(s.attributes).toMatchObject({ 'rpc.system': 'wirecall', 'rpc.method': 'add', 'rpc.wirecall.kind': 'unary', 'rpc.wirecall.status_code': Status.OK });
      expect(s.status.code).toBe(SpanStatusCode.UNSET);
      expect(s.attributes['rpc.wirecall.connection_id']).toBe(add[0]!.attributes['rpc.wirecall.connection_id']);
    }
    const fail = spans.filter((s) => s.name === 'fail');
    expect(fail).toHaveLength(2);
    for (const s of fail) {
      expect(s.status.code).toBe(SpanStatusCode.ERROR);
      expect(s.attributes['rpc.wirecall.status_code']).toBe(Status.METHOD_ERROR);
      expect(s.events.some((e) => e.name === 'exception')).toBe(true);
    }
    expect(fail.find((s) => s.kind === SpanKind.CLIENT)!.attributes['error.type']).toBe('ERR_REMOTE');
    expect(fail.find((s) => s.kind === SpanKind.SERVER)!.attributes['error.type']).toBe('TypeError');
  });

  it('nests a client span under the active span, and a handler call back under its server span (handlerContext)', async () => {
    const { exporter, tracerProvider } = setup();
    const c = await client();
    const outer = tracerProvider.getTracer('test').startSpan('outer');
    await context.with(trace.setSpan(context.active(), outer), () => c.call('relay' as never));
    outer.end();
    await new Promise((r) => setTimeout(r, 10));
    const spans = exporter.getFinishedSpans();
    const relayClient = spans.find((s) => s.name === 'relay' && s.kind === SpanKind.CLIENT)!;
    const relayServer = spans.find((s) => s.name === 'relay' && s.kind === SpanKind.SERVER)!;
    const pingClient = spans.find((s) => s.name === 'ping' && s.kind === SpanKind.CLIENT)!;
    expect(relayClient.parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
    expect(pingClient.parentSpanContext?.spanId).toBe(relayServer.spanContext().spanId);
    expect(spans.some((s) => s.name === 'ping' && s.kind === SpanKind.SERVER)).toBe(true);
  });

  it('makes spans for streams and records durations, counts and open connections', async () => {
    const { exporter, reader } = setup();
    const c = await client();
    for await (const _ of c.stream('count', { n: 3 })) void _;
    await c.call('add', { a: 1, b: 1 });
    await new Promise((r) => setTimeout(r, 10));
    const count = exporter.getFinishedSpans().filter((s) => s.name === 'count');
    expect(count.map((s) => s.kind).sort()).toEqual([SpanKind.CLIENT, SpanKind.SERVER].sort());
    for (const s of count) expect(s.attributes['rpc.wirecall.kind']).toBe('server-stream');
    const m = await metricsOf(reader);
    const duration = m.get('rpc.client.duration')!;
    expect(duration.descriptor.unit).toBe('ms');
    const methods = duration.dataPoints.map((p) => p.attributes['rpc.method']).sort();
    expect(methods).toEqual(['add', 'count']);
    expect(m.get('rpc.server.duration')!.dataPoints).toHaveLength(2);
    // The histograms' counts are the call counts.
    const counted = [...m.get('rpc.client.duration')!.dataPoints, ...m.get('rpc.server.duration')!.dataPoints];
    expect(counted.reduce((n, p) => n + (p.value as { count: number }).count, 0)).toBe(4);
    expect(m.get('wirecall.connections.open')!.dataPoints[0]!.value).toBe(2);
  });

  it('disable() unsubscribes: tracing is off again', async () => {
    const { exporter, instrumentation } = setup();
    expect(callTracing.hasSubscribers).toBe(true);
    expect(streamTracing.hasSubscribers).toBe(true);
    instrumentation.disable();
    expect(callTracing.hasSubscribers).toBe(false);
    expect(streamTracing.hasSubscribers).toBe(false);
    const c = await client();
    await c.call('add', { a: 1, b: 1 });
    expect(exporter.getFinishedSpans()).toHaveLength(0);
  });
});
