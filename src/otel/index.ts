/**
 * wirecall/otel: OpenTelemetry spans and metrics from wirecall's diagnostics channels
 * (docs/OBSERVABILITY.md). Optional: it needs `@opentelemetry/api` (a peer dependency)
 * and `import … from 'wirecall'` loads none of it. Nothing is patched: it subscribes to
 * `wirecall:call`, `wirecall:stream` and the connection and session channels, and
 * `disable()` unsubscribes (tracing costs nothing again).
 *
 *   import { instrumentWirecall } from 'wirecall/otel';
 *   const otel = instrumentWirecall(); // after the SDK is registered, or pass providers
 */
import * as dc from 'node:diagnostics_channel';
import {
  SpanKind,
  SpanStatusCode,
  context,
  metrics,
  trace,
  type Attributes,
  type Context,
  type Counter,
  type Histogram,
  type MeterProvider,
  type Span,
  type TracerProvider,
  type UpDownCounter,
} from '@opentelemetry/api';
import type { CallContext, Contract, PeerInfo } from '../rpc/contract.js';
import { CALL_CHANNEL, STREAM_CHANNEL, type ConnectionErrorMessage, type ConnectionStateMessage, type TraceContext } from '../rpc/tracing.js';

export interface WirecallInstrumentationOptions {
  /** Default: the global one (`trace.getTracerProvider()`, which follows a later registration). */
  tracerProvider?: TracerProvider;
  /** Default: the global one at the time of the call (register the SDK first). */
  meterProvider?: MeterProvider;
  /** Make spans (default true). */
  spans?: boolean;
  /** Record metrics (default true). */
  metrics?: boolean;
  /** Add attributes of your own to a span as it starts (params are not recorded otherwise). */
  onStart?: (span: Span, ctx: TraceContext) => void;
}

export interface WirecallInstrumentation {
  /** Unsubscribe from every channel; spans still open are ended as they are. */
  disable(): void;
}

const NAME = 'wirecall';
const VERSION = '0.1.0';

/** What one traced call or stream keeps between its start and its end, on its context object. */
interface Open {
  span: Span | undefined;
  startedAt: number;
}

/** The key under which a context carries its Open (faster than a WeakMap per call). */
const OPEN = Symbol('wirecall.otel');
type Traced = TraceContext & { [OPEN]?: Open | undefined };

/** Server spans by connection and call id, for handlerContext(). */
const serverSpans = new WeakMap<object, Map<number, Span>>();

/**
 * The OpenTelemetry context to run a handler's work in, so the spans it makes (its own
 * calls back through `ctx.connection`, say) are children of the call's server span:
 * `context.with(handlerContext(ctx), () => …)`. Diagnostics channels cannot make that
 * span current by themselves. Without a span (not instrumented): the active context.
 */
export function handlerContext(ctx: Pick<CallContext<Contract>, 'id' | 'connection'>): Context {
  const span = serverSpans.get(ctx.connection)?.get(ctx.id);
  return span === undefined ? context.active() : trace.setSpan(context.active(), span);
}

/** Subscribe to wirecall's channels and map them to spans and metrics; returns how to stop. */
export function instrumentWirecall(options: WirecallInstrumentationOptions = {}): WirecallInstrumentation {
  const tracer = options.spans === false ? undefined : (options.tracerProvider ?? trace.getTracerProvider()).getTracer(NAME, VERSION);
  const meter = options.metrics === false ? undefined : (options.meterProvider ?? metrics.getMeterProvider()).getMeter(NAME, VERSION);
  const instruments = meter === undefined ? undefined : makeInstruments(meter);
  const onStart = options.onStart;

  const start = (message: unknown): void => {
    const ctx = message as Traced;
    let span: Span | undefined;
    if (tracer !== undefined) {
      const attributes: Attributes = { 'rpc.system': NAME, 'rpc.method': ctx.method, 'rpc.wirecall.kind': ctx.kind, ...peerAttributes(ctx.connection.peer) };
      if (ctx.id !== 0) attributes['rpc.wirecall.id'] = ctx.id;
      span = tracer.startSpan(ctx.method, { kind: ctx.side === 'client' ? SpanKind.CLIENT : SpanKind.SERVER, attributes });
      onStart?.(span, ctx);
      if (ctx.side === 'server') {
        let byId = serverSpans.get(ctx.connection);
        if (byId === undefined) serverSpans.set(ctx.connection, (byId = new Map()));
        byId.set(ctx.id, span);
      }
    }
    ctx[OPEN] = { span, startedAt: performance.now() };
  };

  const asyncEnd = (message: unknown): void => {
    const ctx = message as Traced;
    const o = ctx[OPEN];
    if (o === undefined) return;
    ctx[OPEN] = undefined;
    const failed = 'error' in ctx;
    const attributes: Attributes = { 'rpc.system': NAME, 'rpc.method': ctx.method, 'rpc.wirecall.kind': ctx.kind };
    if (ctx.status !== undefined) attributes['rpc.wirecall.status_code'] = ctx.status;
    if (failed) attributes['error.type'] = errorType(ctx.error);
    const span = o.span;
    if (span !== undefined) {
      if (ctx.side === 'server') serverSpans.get(ctx.connection)?.delete(ctx.id);
      span.setAttributes(attributes);
      if (ctx.id !== 0) span.setAttribute('rpc.wirecall.id', ctx.id);
      if (failed) {
        const error = ctx.error;
        if (error instanceof Error) span.recordException(error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      }
      span.end();
    }
    if (instruments !== undefined) {
      const ms = performance.now() - o.startedAt;
      // Its count is the number of calls, by the same attributes.
      (ctx.side === 'client' ? instruments.clientDuration : instruments.serverDuration).record(ms, attributes);
    }
  };

  const tracing = { start, asyncEnd, end: noop, asyncStart: noop, error: noop };
  const calls = dc.tracingChannel(CALL_CHANNEL);
  const streams = dc.tracingChannel(STREAM_CHANNEL);
  calls.subscribe(tracing);
  streams.subscribe(tracing);

  const points: Array<[string, (message: unknown) => void]> = [];
  if (instruments !== undefined) {
    const connected = new WeakSet<object>();
    points.push(
      [
        'wirecall:connection:state',
        (message) => {
          const { connection, state } = message as ConnectionStateMessage;
          if (state === 'connected') {
            connected.add(connection as object);
            instruments.openConnections.add(1);
          } else if (state === 'closed' && connected.delete(connection as object)) {
            instruments.openConnections.add(-1);
          }
        },
      ],
      ['wirecall:connection:error', (message) => instruments.connectionErrors.add(1, { 'error.type': errorType((message as ConnectionErrorMessage).error) })],
      ['wirecall:session:state', (message) => instruments.sessionStates.add(1, { 'wirecall.session.state': (message as { state: string }).state })],
    );
  }
  for (const [name, fn] of points) dc.subscribe(name, fn);

  let enabled = true;
  return {
    disable() {
      if (!enabled) return;
      enabled = false;
      calls.unsubscribe(tracing);
      streams.unsubscribe(tracing);
      for (const [name, fn] of points) dc.unsubscribe(name, fn);
    },
  };
}

function noop(): void {}

interface Instruments {
  clientDuration: Histogram;
  serverDuration: Histogram;
  openConnections: UpDownCounter;
  connectionErrors: Counter;
  sessionStates: Counter;
}

function makeInstruments(meter: ReturnType<MeterProvider['getMeter']>): Instruments {
  return {
    clientDuration: meter.createHistogram('rpc.client.duration', { unit: 'ms', description: 'Duration of calls and streams made, from sending to their end' }),
    serverDuration: meter.createHistogram('rpc.server.duration', { unit: 'ms', description: 'Duration of calls and streams served, from the handler starting to the answer' }),
    openConnections: meter.createUpDownCounter('wirecall.connections.open', { description: 'Connections past their handshake and not yet closed' }),
    connectionErrors: meter.createCounter('wirecall.connection.errors', { description: 'Connections that failed, by error type' }),
    sessionStates: meter.createCounter('wirecall.session.transitions', { description: 'TransportManager session state changes, by new state' }),
  };
}

function peerAttributes(peer: PeerInfo | undefined): Attributes {
  if (peer === undefined) return {};
  return { 'network.peer.address': peer.address, 'rpc.wirecall.connection_id': peer.connectionId, 'rpc.wirecall.peer_name': peer.name };
}

/** `error.type`: a wirecall error's code, else the error's name. */
function errorType(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? code : error.name;
  }
  return typeof error;
}
