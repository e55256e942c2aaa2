/**
 * `wirecall serve -v`: one line for every call and stream a client asks for, including
 * those the server cannot serve (no such method, or one of another kind), which the
 * library answers with METHOD_NOT_FOUND before any handler runs.
 *
 * The library publishes every call and stream it is asked for on the diagnostics
 * channels `wirecall:call` and `wirecall:stream` (TracingChannel; refused ones too), so
 * this subscribes to their `start` events, server side, and tells from the connection's
 * handlers whether the call will be served. Nothing is published unless someone
 * subscribes: without -v the server pays nothing.
 */
import { tracingChannel } from 'node:diagnostics_channel';
import type { Connection, MethodKind, TraceContext } from '../index.js';
import { toJsonLine } from './common.js';

/** Logs every call and stream the server is asked for. Returns a function that stops it. */
export function logCalls(log: (line: string) => void): () => void {
  const start = (message: unknown): void => {
    const ctx = message as TraceContext;
    if (ctx.side !== 'server') return;
    const connection = ctx.connection as Connection<unknown, unknown>;
    const address = connection.peer?.address ?? 'unknown';
    const entry = connection.registry.get(ctx.method);
    const head = `call ${ctx.method} ${toJsonLine(ctx.params)} from ${address}`;
    if (entry === undefined) log(`${head}: METHOD_NOT_FOUND (no such method)`);
    else if (entry.kind !== ctx.kind) log(`${head}: METHOD_NOT_FOUND (a ${entry.kind} method, asked for as ${article(ctx.kind)})`);
    else log(ctx.kind === 'unary' ? head : `${head} (${ctx.kind})`);
  };
  const channels = ['wirecall:call', 'wirecall:stream'].map((name) => tracingChannel(name));
  for (const channel of channels) channel.start.subscribe(start);
  return () => {
    for (const channel of channels) channel.start.unsubscribe(start);
  };
}

function article(kind: MethodKind): string {
  return kind === 'unary' ? 'a unary one' : `a ${kind}`;
}
