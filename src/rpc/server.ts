import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { listen, type Endpoint, type Listener } from '../transport/index.js';
import type { TransportError } from '../errors.js';
import { Connection, type ServerConnectionOptions } from './connection.js';
import type {
  AnyHandler,
  BidiStreamHandler,
  ClientStreamHandler,
  Contract,
  Handler,
  Implementation,
  MethodName,
  ServerStreamHandler,
} from './contract.js';
import { HandlerRegistry } from './registry.js';

export interface ServerOptions extends Omit<ServerConnectionOptions, 'registry' | 'handlers'> {
  /** Unix sockets: 0o600 (owner only, default) or 0o660 (owner and group). */
  socketMode?: 0o600 | 0o660;
}

export interface ServerEvents<Remote, Local> {
  /** A client finished its handshake. */
  connection: [connection: Connection<Remote, Local>];
  /** A client's handshake failed (rejected, timed out, bad bytes). The server goes on. */
  connectionError: [error: TransportError, address: string];
}

/**
 * Accepts connections on one or more endpoints and serves the handlers registered on
 * it. Every connection gets its own registry that falls back to the server's, and may
 * call the client back through `ctx.connection`.
 */
export class Server<Local = Contract, Remote = Contract> extends EventEmitter<ServerEvents<Remote, Local>> {
  readonly registry = new HandlerRegistry();
  /** Connections past their handshake, and those still shaking hands. */
  readonly connections = new Set<Connection<Remote, Local>>();
  private readonly options: ServerOptions;
  private readonly bound: Listener[] = [];
  private closing: Promise<void> | undefined;

  constructor(options: ServerOptions = {}) {
    super();
    this.options = options;
  }

  /** Serve `method`. The handler gets `(params, ctx)` and returns a value or a Promise. */
  register<M extends MethodName<Local>>(method: M, handler: Handler<Local, M, Remote>): this {
    this.registry.register(method, handler as unknown as AnyHandler);
    return this;
  }

  /**
   * Serve a server stream: the handler gets `(params, ctx)` and returns an async
   * iterable, usually by being an async generator. It is resumed only while the caller
   * has credit; `ctx.signal` fires and its `finally` blocks run if the caller cancels.
   */
  registerStream<M extends MethodName<Local>>(method: M, handler: ServerStreamHandler<Local, M, Remote>): this {
    this.registry.register(method, handler as unknown as AnyHandler, 'server-stream');
    return this;
  }

  /** Serve a client stream: the handler gets `(messages, params, ctx)` and returns the result. */
  registerClientStream<M extends MethodName<Local>>(method: M, handler: ClientStreamHandler<Local, M, Remote>): this {
    this.registry.register(method, handler as unknown as AnyHandler, 'client-stream');
    return this;
  }

  /** Serve a bidirectional stream: the handler gets `(messages, params, ctx)` and yields replies. */
  registerBidiStream<M extends MethodName<Local>>(method: M, handler: BidiStreamHandler<Local, M, Remote>): this {
    this.registry.register(method, handler as unknown as AnyHandler, 'bidi-stream');
    return this;
  }

  /** Register every method of an object implementing the contract. */
  implement(implementation: Implementation<Local, Remote>): this {
    for (const [method, handler] of Object.entries(implementation)) {
      this.registry.register(method, (handler as AnyHandler).bind(implementation));
    }
    return this;
  }

  unregister(method: MethodName<Local>): boolean {
    return this.registry.unregister(method);
  }

  /**
   * Start accepting on `endpoint` (see the endpoint grammar; omitted: a fresh private
   * Unix socket). Resolves to the endpoint actually bound, e.g. `tcp://127.0.0.1:40123`.
   * May be called again to serve on several endpoints at once.
   */
  async listen(endpoint?: string | Endpoint): Promise<string> {
    if (this.closing !== undefined) throw new Error('server is closed');
    let url: string | undefined;
    const listener = await listen(endpoint, {
      onConnection: (socket) => this.accept(socket, url),
      ...(this.options.socketMode === undefined ? {} : { socketMode: this.options.socketMode }),
    });
    url = listener.url;
    this.bound.push(listener);
    return url;
  }

  /** Bound endpoints, in the order they were added. */
  get endpoints(): string[] {
    return this.bound.map((l) => l.url);
  }

  /**
   * Stop accepting, then close every connection gracefully (in-flight calls may finish
   * within `drainTimeout`). Idempotent.
   */
  close(options: { drainTimeout?: number } = {}): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(this.bound.map((l) => l.close()));
      await Promise.all([...this.connections].map((c) => c.close(options)));
    })();
    return this.closing;
  }

  private accept(socket: Socket, localUrl: string | undefined): void {
    if (this.closing !== undefined) {
      socket.destroy();
      return;
    }
    const address =
      socket.remoteAddress !== undefined
        ? `tcp://${socket.remoteAddress.includes(':') ? `[${socket.remoteAddress}]` : socket.remoteAddress}:${socket.remotePort}`
        : (localUrl ?? 'local');
    const connection = Connection.server<Remote, Local>(socket, { ...this.options, registry: this.registry, address });
    this.connections.add(connection);
    connection.once('close', () => this.connections.delete(connection));
    connection.ready.then(
      () => this.emit('connection', connection),
      (err: TransportError) => {
        if (this.listenerCount('connectionError') > 0) this.emit('connectionError', err, address);
      },
    );
  }
}

export function createServer<Local = Contract, Remote = Contract>(options?: ServerOptions): Server<Local, Remote> {
  return new Server<Local, Remote>(options);
}
