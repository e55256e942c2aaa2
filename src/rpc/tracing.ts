/**
 * Tracing: a diagnostics_channel TracingChannel for calls (`wirecall:call`) and one for
 * streams (`wirecall:stream`), both sides. Nothing of it runs unless someone subscribed:
 * the hot path checks `hasSubscribers` (a few property reads) and builds no context
 * object, no closure and reads no clock otherwise, as undici and node-redis do.
 *
 * Events per traced call or stream, on one context object (TraceContext):
 *   start     the call is about to be sent (client), the handler about to run (server)
 *   end       the synchronous part is over (sent; the handler returned or threw)
 *   error     it failed: `error` set (and `status` when an answer carried one)
 *   asyncStart, asyncEnd   it is over: `result` or `error` set
 * The same order Node's `tracePromise` gives; client calls use it as it is.
 */
import * as dc from 'node:diagnostics_channel';
import type { Caller, ConnectionState, Contract } from './contract.js';
import type { MethodKind } from './handlers.js';

/** What a traced call or stream tells its subscribers; one object from start to asyncEnd. */
export interface TraceContext {
  /** 'client': we made it; 'server': the peer did and our handler runs it. */
  readonly side: 'client' | 'server';
  /** 'unary' on `wirecall:call`, a stream kind on `wirecall:stream`. */
  readonly kind: MethodKind;
  readonly method: string;
  /** The id on the wire (per connection and direction); 0 if it failed before one was given. */
  id: number;
  /** The Connection it runs on. */
  readonly connection: Caller<Contract>;
  /** The params as given (client) or decoded (server). */
  readonly params: unknown;
  /** Set when it ended well: the result (a server stream: its final value). */
  result?: unknown;
  /** Set when it failed: what the caller got (client) or what ended the handler (server). */
  error?: unknown;
  /**
   * The status it ended with, as on the wire (Status: 0 OK): on the server the status of
   * the answer sent (undefined when none could be, the connection being gone); on the
   * client the status of the error when it has one (RemoteError, DeadlineExceeded…).
   */
  status?: number;
}

/** The part of Node's TracingChannel we use (@types/node 20 lacks `hasSubscribers`). */
export interface Tracing {
  readonly hasSubscribers: boolean;
  readonly start: dc.Channel;
  readonly end: dc.Channel;
  readonly asyncStart: dc.Channel;
  readonly asyncEnd: dc.Channel;
  readonly error: dc.Channel;
  tracePromise<T>(fn: () => Promise<T>, context: TraceContext): Promise<T>;
}

export const CALL_CHANNEL = 'wirecall:call';
export const STREAM_CHANNEL = 'wirecall:stream';

/**
 * Feature detection: every Node 20 has `tracingChannel`, but its `hasSubscribers` came
 * in 20.13 (and is in 20.20); before that it is read from the five channels here.
 * Without `tracingChannel` at all (another runtime), tracing stays off.
 */
export function tracingFrom(make: ((name: string) => unknown) | undefined, name: string): Tracing {
  if (typeof make !== 'function') return NO_TRACING;
  const t = make(name) as Tracing;
  if (!('hasSubscribers' in t)) {
    Object.defineProperty(t, 'hasSubscribers', {
      get(this: Tracing) {
        return this.start.hasSubscribers || this.end.hasSubscribers || this.asyncStart.hasSubscribers || this.asyncEnd.hasSubscribers || this.error.hasSubscribers;
      },
    });
  }
  return t;
}

const NO_TRACING = { hasSubscribers: false } as Tracing;

const make = (dc as { tracingChannel?: (name: string) => unknown }).tracingChannel;
export const callTracing = tracingFrom(make, CALL_CHANNEL);
export const streamTracing = tracingFrom(make, STREAM_CHANNEL);

/** The channel a context belongs on. */
function tracingOf(ctx: TraceContext): Tracing {
  return ctx.kind === 'unary' ? callTracing : streamTracing;
}

export function traceContext(side: 'client' | 'server', kind: MethodKind, method: string, id: number, connection: Caller<Contract>, params: unknown): TraceContext {
  return { side, kind, method, id, connection, params };
}

/** Publish start, run `fn` (stores bound to the context, as `runStores` does), publish end. */
export function traceStart<R>(ctx: TraceContext, fn: () => R): R {
  const t = tracingOf(ctx);
  return t.start.runStores(ctx, () => {
    try {
      return fn();
    } finally {
      t.end.publish(ctx);
    }
  });
}

/** It is over: error (when `failed`), asyncStart, asyncEnd. Only the first ending counts. */
export function traceEnd(ctx: TraceContext, failed: boolean, value: unknown, status: number | undefined): void {
  if ('result' in ctx || 'error' in ctx) return;
  const t = tracingOf(ctx);
  if (status !== undefined) ctx.status = status;
  if (failed) {
    ctx.error = value;
    t.error.publish(ctx);
  } else {
    ctx.result = value;
  }
  t.asyncStart.publish(ctx);
  t.asyncEnd.publish(ctx);
}

/** A stream's end, as stream.ts keeps it; `status` when known better than the error's own. */
export function traceOutcome(ctx: TraceContext, outcome: { ok: boolean; value?: unknown; error?: unknown }, status?: number): void {
  if (outcome.ok) traceEnd(ctx, false, outcome.value, 0);
  else traceEnd(ctx, true, outcome.error, status ?? statusOf(outcome.error));
}

/** A result was answered with `status`: 0 sent it, anything else means it could not be (too big, not encodable). */
export function traceAnswered(ctx: TraceContext, value: unknown, status: number): void {
  if (status === 0) traceEnd(ctx, false, value, 0);
  else traceEnd(ctx, true, new Error(`${ctx.method}: the result could not be sent (status ${status})`), status);
}

/** The status an error maps to on the wire, if it says (CallError and its kin). */
export function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null | undefined)?.status;
  return typeof status === 'number' ? status : undefined;
}

/**
 * A call or stream refused before any handler ran (unknown method, say): its whole
 * trace at once, so subscribers see those too.
 */
export function traceRefused(kind: MethodKind, method: string, id: number, connection: Caller<Contract>, params: unknown, status: number, error: Error): void {
  const ctx = traceContext('server', kind, method, id, connection, params);
  const t = tracingOf(ctx);
  t.start.publish(ctx);
  t.end.publish(ctx);
  traceEnd(ctx, true, error, status);
}

/** `wirecall:connection:state` (published by connection-core.ts). */
export interface ConnectionStateMessage {
  /** The Connection. */
  connection: unknown;
  state: ConnectionState;
  previous: ConnectionState;
}

/** `wirecall:connection:error`: the error a connection ends with, at the moment it fails. */
export interface ConnectionErrorMessage {
  connection: unknown;
  error: Error;
}
