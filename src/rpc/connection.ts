import type { Duplex } from 'node:stream';
import { NotSupported, type TransportError } from '../errors.js';
import { StreamKind } from '../wire/native.js';
import { ConnectionCore, type Role } from './connection-core.js';
import type {
  AnyHandler,
  BidiStream,
  BidiStreamHandler,
  CallArgs,
  CallOptions,
  Caller,
  ClientStream,
  ClientStreamHandler,
  ConnectionEvents,
  ConnectionState,
  Contract,
  Handler,
  MethodName,
  NotifyArgs,
  ParamsOf,
  PeerInfo,
  ResultOf,
  ServerStream,
  ServerStreamHandler,
  StreamArgs,
  StreamIn,
  StreamOptions,
  StreamOut,
  StreamParams,
} from './contract.js';
import type { ClientConnectionOptions, ServerConnectionOptions } from './options.js';
import { HandlerRegistry, type MethodKind } from './handlers.js';
import { failedStream, type OutgoingStream } from './stream.js';
import { connectionStats, type ConnectionStats } from './stats.js';
import { callTracing, statusOf, streamTracing, traceContext, traceEnd, traceStart, type TraceContext } from './tracing.js';
import { EventEmitter } from 'node:events';

export type { ConnectionOptions, ClientConnectionOptions, ServerConnectionOptions } from './options.js';
export type { ConnectionEvents } from './contract.js';
export type { ConnectionStats } from './stats.js';

/**
 * One framed, bidirectional RPC connection over any byte stream. Both peers can call
 * each other; which side dialled only matters for the handshake.
 *
 * The public face: state, events, the calling and registering API, close. What runs
 * underneath is in connection-core.ts and the parts it wires together.
 */
export class Connection<Remote = Contract, Local = Contract> extends EventEmitter<ConnectionEvents> implements Caller<Remote> {
  /** Handlers the peer can call on this connection (falls back to the server's). */
  readonly registry: HandlerRegistry;
  /** Resolves when the handshake is done; rejects with the reason it failed. */
  readonly ready: Promise<this>;
  private readonly core: ConnectionCore<this>;

  private constructor(role: Role, socket: Duplex, address: string, options: ServerConnectionOptions & ClientConnectionOptions) {
    super();
    this.registry = new HandlerRegistry(options.registry);
    for (const [method, handler] of Object.entries(options.handlers ?? {})) this.registry.register(method, handler);
    this.core = new ConnectionCore(this, role, socket, address, options, this.registry);
    this.ready = this.core.ready;
  }

  /** Start the client side of a connection over an open socket; resolves once CONNECTED. */
  static client<Remote = Contract, Local = Contract>(
    socket: Duplex,
    options: ClientConnectionOptions & { address?: string } = {},
  ): Promise<Connection<Remote, Local>> {
    const c = new Connection<Remote, Local>('client', socket, options.address ?? 'unknown', options);
    c.core.start();
    return c.ready;
  }

  /** Start the server side over an accepted socket. Returns at once; await `ready`. */
  static server<Remote = Contract, Local = Contract>(
    socket: Duplex,
    options: ServerConnectionOptions & { address?: string } = {},
  ): Connection<Remote, Local> {
    const c = new Connection<Remote, Local>('server', socket, options.address ?? 'unknown', options);
    c.core.start();
    return c;
  }

  /** What the handshake told us of the peer; undefined until CONNECTED. */
  get peer(): PeerInfo | undefined {
    return this.core.peer;
  }

  get state(): ConnectionState {
    return this.core.state;
  }

  /** A server-side connection still waiting for the client's HELLO. */
  get awaitingHello(): boolean {
    return this.core.awaitingHello;
  }

  /** Calls we made that have not finished. */
  get pendingCalls(): number {
    return this.core.outgoing.size;
  }

  /** Calls the peer made that we are still handling. */
  get activeCalls(): number {
    return this.core.incoming.size;
  }

  /** Streams open on this connection, in both directions. */
  get openStreams(): number {
    return this.core.streams.size;
  }

  /** Counters and queue depths of this connection, read now (see ConnectionStats). */
  stats(): ConnectionStats {
    return connectionStats(this.core);
  }

  // ---------------------------------------------------------------- public API

  /**
   * Call a method of the peer. Rejects with RemoteError (the peer answered with an
   * error), DeadlineExceeded, CallCancelled, MessageTooLarge, or a TransportError if the
   * connection fails.
   */
  call<M extends MethodName<Remote>>(method: M, ...args: CallArgs<Remote, M>): Promise<ResultOf<Remote, M>>;
  call(method: string, params?: unknown, options?: CallOptions): Promise<unknown> {
    // Tracing (tracing.ts) costs this one check while nobody subscribes.
    if (callTracing.hasSubscribers) return this.tracedCall(method, params, options);
    if (this.core.state !== 'connected') return Promise.reject(this.core.notOpenError());
    return this.core.outgoing.call(method, params, options);
  }

  private tracedCall(method: string, params: unknown, options: CallOptions | undefined): Promise<unknown> {
    const ctx = traceContext('client', 'unary', method, 0, this.core.caller, params);
    const core = this.core;
    const sent = traceStart(ctx, () => (core.state !== 'connected' ? Promise.reject(core.notOpenError()) : core.outgoing.call(method, params, options, ctx)));
    return sent.then(
      (value) => (traceEnd(ctx, false, value, 0), value),
      (err: unknown) => {
        traceEnd(ctx, true, err, statusOf(err));
        throw err;
      },
    );
  }

  /**
   * Open a server stream: the peer's handler sends many messages, read them with
   * `for await`. Leaving the loop early, aborting the signal or passing the timeout
   * cancels the stream on both sides.
   */
  stream<M extends MethodName<Remote>>(method: M, ...args: StreamArgs<Remote, M, ParamsOf<Remote, M>>): ServerStream<StreamOut<Remote, M>>;
  stream(method: string, params?: unknown, options?: StreamOptions): ServerStream<unknown> {
    return this.openStream(StreamKind.SERVER, method, params, options);
  }

  /** Open a client stream: write messages, `end()`, then await `result`. */
  clientStream<M extends MethodName<Remote>>(
    method: M,
    ...args: StreamArgs<Remote, M, StreamParams<Remote, M>>
  ): ClientStream<StreamIn<Remote, M>, ResultOf<Remote, M>>;
  clientStream(method: string, params?: unknown, options?: StreamOptions): ClientStream<unknown, unknown> {
    return this.openStream(StreamKind.CLIENT, method, params, options);
  }

  /** Open a bidirectional stream: write and `end()` like a client stream, iterate like a server stream. */
  bidiStream<M extends MethodName<Remote>>(
    method: M,
    ...args: StreamArgs<Remote, M, StreamParams<Remote, M>>
  ): BidiStream<StreamIn<Remote, M>, StreamOut<Remote, M>>;
  bidiStream(method: string, params?: unknown, options?: StreamOptions): BidiStream<unknown, unknown> {
    return this.openStream(StreamKind.BIDI, method, params, options);
  }

  private openStream(kind: StreamKind, method: string, params: unknown, options: StreamOptions | undefined): OutgoingStream {
    if (!streamTracing.hasSubscribers) return this.openUntraced(kind, method, params, options);
    const ctx: TraceContext = traceContext('client', kind === StreamKind.SERVER ? 'server-stream' : kind === StreamKind.CLIENT ? 'client-stream' : 'bidi-stream', method, 0, this.core.caller, params);
    const stream = traceStart(ctx, () => this.openUntraced(kind, method, params, options));
    stream.traceWith(ctx);
    return stream;
  }

  private openUntraced(kind: StreamKind, method: string, params: unknown, options: StreamOptions | undefined): OutgoingStream {
    if (this.core.state !== 'connected') return failedStream(method, kind, this.core.notOpenError());
    const dialect = this.core.frames.dialect;
    if (dialect !== 'wirecall') {
      const what = dialect === 'dcc-mcp' ? "dcc-mcp-core's envelope" : 'DCC-Link';
      return failedStream(method, kind, new NotSupported(`streams are not part of ${what}: use call() (${method})`));
    }
    return this.core.streams.open(kind, method, params, options);
  }

  /** Send a notification: no reply, no delivery guarantee beyond the socket's. */
  notify<M extends MethodName<Remote>>(method: M, ...args: NotifyArgs<Remote, M>): void;
  notify(method: string, params?: unknown): void {
    if (this.core.state !== 'connected') throw this.core.notOpenError();
    this.core.outgoing.notify(method, params);
  }

  /** Let the peer call `method` on this connection. */
  register<M extends MethodName<Local>>(method: M, handler: Handler<Local, M, Remote>): this {
    return this.registerKind(method, handler, 'unary');
  }

  /** Let the peer open a server stream `method` here: the handler is usually an async generator. */
  registerStream<M extends MethodName<Local>>(method: M, handler: ServerStreamHandler<Local, M, Remote>): this {
    return this.registerKind(method, handler, 'server-stream');
  }

  /** Let the peer open a client stream: the handler reads `messages` and returns the result. */
  registerClientStream<M extends MethodName<Local>>(method: M, handler: ClientStreamHandler<Local, M, Remote>): this {
    return this.registerKind(method, handler, 'client-stream');
  }

  /** Let the peer open a bidirectional stream: the handler reads `messages` and yields replies. */
  registerBidiStream<M extends MethodName<Local>>(method: M, handler: BidiStreamHandler<Local, M, Remote>): this {
    return this.registerKind(method, handler, 'bidi-stream');
  }

  private registerKind(method: string, handler: unknown, kind: MethodKind): this {
    this.registry.register(method, handler as AnyHandler, kind);
    return this;
  }

  unregister(method: MethodName<Local>): boolean {
    return this.registry.unregister(method);
  }

  /**
   * Round-trip time to the peer in ms, measured with a PING/PONG pair. Rejects with
   * DeadlineExceeded after `timeout` (default 10 s) or the signal's reason on abort.
   */
  ping(options: { timeout?: number; signal?: AbortSignal } = {}): Promise<number> {
    if (this.core.state !== 'connected') return Promise.reject(this.core.notOpenError());
    return this.core.watchdog.ping(options);
  }

  /**
   * Close gracefully: tell the peer (SHUTDOWN), refuse new calls, let in-flight calls
   * in both directions finish for up to `drainTimeout` ms, then fail what is left with
   * ConnectionClosed and hang up. Idempotent: every call returns the same promise.
   */
  close(options: { drainTimeout?: number } = {}): Promise<void> {
    return this.core.close(options);
  }

  /** Drop the connection at once: everything pending fails with ConnectionClosed. */
  destroy(error?: TransportError): void {
    this.core.destroy(error);
  }
}
