import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { isTlsSocket, listen, tlsFailure, tlsPeerOf, tlsRejectReason, tlsRequiredMessage, TLS_REQUIRED_REASON, type Endpoint, type Listener, type TlsServerOptions } from '../transport/index.js';
import { ConnectionClosed, ConnectionLost, InvalidOption, LimitExceeded, TlsRequired, type TlsError, type TransportError } from '../errors.js';
import { encodeReject } from '../wire/encode.js';
import { RejectReason } from '../wire/native.js';
import { AuthThrottle, LOCAL_PEER, type AuthThrottleOptions } from './auth-throttle.js';
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
import { HandlerRegistry } from './handlers.js';
import { addCounters, sumStats, zeroCounters, type ConnectionTotals } from './stats.js';

export interface ServerOptions extends Omit<ServerConnectionOptions, 'registry' | 'handlers' | 'onAuthOutcome'> {
  /** Unix sockets: 0o600 (owner only, default) or 0o660 (owner and group). */
  socketMode?: 0o600 | 0o660;
  /** Connections open at once, handshaking or not; beyond it new ones are refused (UNAVAILABLE). Default 1000. */
  maxConnections?: number;
  /**
   * Connections still in their handshake at once; a new one over it drops the oldest
   * that has sent no HELLO for over a second (a peer that connects and says nothing
   * would hold a socket for up to `handshakeTimeout`). Default 64.
   */
  maxPendingHandshakes?: number;
  /** Growing delays, then refusal, for failed token/authenticate checks (see AuthThrottle). `false` turns it off. */
  authThrottle?: AuthThrottleOptions | false;
  /**
   * TLS on every TCP endpoint this server listens on (a tls:// endpoint needs it):
   * certificate and key; `ca` and `requestCert` for mutual TLS. Unix sockets and pipes
   * stay plain (Unix sockets too get TLS with `unixSockets: true`). The handshake timeout
   * covers the TLS handshake. See docs/TLS.md.
   */
  tls?: TlsServerOptions;
}

/** Server.stats(): its connections' counters summed (closed ones included), their load now, and its own. */
export interface ServerStats extends ConnectionTotals {
  /** Connections open now, handshaking or not. */
  connections: number;
  /** Of those, still in their handshake. */
  pendingHandshakes: number;
  /** Sockets accepted since the server started (refused ones not included). */
  accepted: number;
  /** Sockets turned away before their handshake (maxConnections, a banned peer). */
  refused: number;
  /** Handshakes that failed (rejected, timed out, bad bytes). */
  handshakesFailed: number;
}

/** A pending connection younger than this is never dropped for a newer one. */
const SILENT_GRACE_MS = 1000;
/** How long a refused socket may take to read its REJECT before it is dropped. */
const REFUSAL_LINGER_MS = 1000;

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
  /** Connections still in the handshake, oldest first, with when they were accepted. */
  private readonly pending = new Map<Connection<Remote, Local>, number>();
  private readonly options: ServerOptions;
  private readonly connectionOptions: Omit<ServerOptions, 'socketMode' | 'maxConnections' | 'maxPendingHandshakes' | 'authThrottle' | 'tls'>;
  private readonly maxConnections: number;
  private readonly maxPendingHandshakes: number;
  private readonly throttle: AuthThrottle | undefined;
  private readonly bound: Listener[] = [];
  private closing: Promise<void> | undefined;
  private accepted = 0;
  private refused = 0;
  /** TCP sockets in their TLS handshake: not connections yet, but they count toward maxConnections. */
  private inTlsHandshake = 0;
  private handshakesFailed = 0;
  /** The counters of connections already closed. */
  private readonly retired = zeroCounters();

  constructor(options: ServerOptions = {}) {
    super();
    this.options = options;
    const { socketMode: _s, maxConnections, maxPendingHandshakes, authThrottle, tls: _t, ...connectionOptions } = options;
    this.connectionOptions = connectionOptions;
    this.maxConnections = positiveInteger(maxConnections ?? 1000, 'maxConnections');
    this.maxPendingHandshakes = positiveInteger(maxPendingHandshakes ?? 64, 'maxPendingHandshakes');
    this.throttle = authThrottle === false ? undefined : new AuthThrottle(authThrottle);
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
   * May be called again to serve on several endpoints at once. `options.tls` replaces
   * the server's `tls` for this endpoint only (a plugin's AutoMTLS certificate).
   */
  async listen(endpoint?: string | Endpoint, options: { tls?: TlsServerOptions } = {}): Promise<string> {
    if (this.closing !== undefined) throw new ConnectionClosed('server is closed');
    let url: string | undefined;
    const { socketMode, handshakeTimeout } = this.options;
    const tls = options.tls ?? this.options.tls;
    const listener = await listen(endpoint, {
      onConnection: (socket) => this.accept(socket, url),
      ...(socketMode === undefined ? {} : { socketMode }),
      ...(tls === undefined ? {} : { tls }),
      ...(handshakeTimeout === undefined ? {} : { handshakeTimeout }),
      // A plain client on a TLS port is told so in its own protocol, not just reset.
      onPlaintext: (socket) => {
        const message = tlsRequiredMessage(url ?? 'this server');
        this.refuse(socket, remoteUrl(socket, url), TLS_REQUIRED_REASON, message, new TlsRequired(`a plain client on a TLS port, refused: ${message}`));
      },
      // Mutual TLS: a refused client certificate is said in a REJECT over TLS.
      onTlsRefusal: (socket, error) => this.refuse(socket, remoteUrl(socket, url), tlsRejectReason(error as TlsError), error.message, error),
      onHandshakeError: (error, address) => {
        this.handshakesFailed++;
        if (this.listenerCount('connectionError') > 0) this.emit('connectionError', error, address);
      },
      admitTls: () => this.admitTls(),
    });
    url = listener.url;
    this.bound.push(listener);
    return url;
  }

  /** Counters and load of every connection, summed, and the server's own (see ServerStats). */
  stats(): ServerStats {
    const totals = sumStats([...this.connections].map((c) => c.stats()), this.retired);
    const { accepted, refused, handshakesFailed } = this;
    return { connections: this.connections.size, pendingHandshakes: this.pending.size, accepted, refused, handshakesFailed, ...totals };
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
    const ip = socket.remoteAddress;
    const address = remoteUrl(socket, localUrl);
    const peerKey = ip ?? LOCAL_PEER;
    const banned = this.throttle?.bannedFor(peerKey) ?? 0;
    if (banned > 0) {
      this.refuse(socket, address, RejectReason.UNAUTHENTICATED, `too many failed handshakes from ${ip}; refused for another ${Math.ceil(banned / 1000)} s`);
      return;
    }
    if (this.connections.size >= this.maxConnections) {
      this.refuse(socket, address, RejectReason.UNAVAILABLE, `server is at its connection limit (maxConnections ${this.maxConnections})`);
      return;
    }
    if (this.pending.size >= this.maxPendingHandshakes) this.dropSilentHandshake();
    const throttle = this.throttle;
    const tls = tlsPeerLater(socket);
    const connection = Connection.server<Remote, Local>(socket, {
      ...this.connectionOptions,
      ...(tls === undefined ? {} : { tlsPeer: tls }),
      registry: this.registry,
      address,
      ...(throttle === undefined
        ? {}
        : { onAuthOutcome: (passed: boolean) => (passed ? (throttle.passed(peerKey), 0) : throttle.failed(peerKey)) }),
    });
    this.connections.add(connection);
    this.accepted++;
    this.pending.set(connection, Date.now());
    connection.once('close', () => {
      addCounters(this.retired, connection.stats());
      this.connections.delete(connection);
      this.pending.delete(connection);
    });
    // 'connection' is emitted the moment the connection opens, before any message after
    // the opening is read: a dcc-mcp-core client has no handshake, and its first
    // envelopes may arrive in the very chunk that opened it.
    const onState = (state: string): void => {
      if (state !== 'connected') return;
      connection.off('state', onState);
      this.pending.delete(connection);
      this.emit('connection', connection);
    };
    connection.on('state', onState);
    connection.ready.catch((err: TransportError) => {
      connection.off('state', onState);
      this.pending.delete(connection);
      this.handshakesFailed++;
      const error = err instanceof ConnectionLost ? (tlsFailure(err.cause, 'server', address) ?? err) : err;
      if (this.listenerCount('connectionError') > 0) this.emit('connectionError', error, address);
    });
  }

  /** A socket may start its TLS handshake while connections and handshakes stay under maxConnections. */
  private admitTls(): (() => void) | undefined {
    if (this.closing !== undefined || this.connections.size + this.inTlsHandshake >= this.maxConnections) {
      this.refused++;
      return undefined;
    }
    this.inTlsHandshake++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inTlsHandshake--;
    };
  }

  /**
   * Make room for a new handshake: drop the oldest connection that has been silent (no
   * HELLO) for longer than a well-meaning client takes to send one. A burst of good
   * clients, all accepted before any of their HELLOs is read, is never dropped: if no
   * pending connection qualifies, the new one is let in over the limit (maxConnections
   * still bounds them all).
   */
  private dropSilentHandshake(): void {
    const now = Date.now();
    const grace = Math.min(SILENT_GRACE_MS, (this.options.handshakeTimeout ?? 5000) / 5);
    for (const [connection, acceptedAt] of this.pending) {
      if (now - acceptedAt < grace) return; // the rest are younger still
      if (connection.awaitingHello) {
        connection.destroy(
          new LimitExceeded(`dropped: silent for ${now - acceptedAt} ms while ${this.pending.size} handshakes were pending (maxPendingHandshakes)`),
        );
        return;
      }
    }
  }

  /** Turn a socket away before its handshake: a REJECT it can read, then hang up. */
  private refuse(socket: Socket, address: string, reason: string, message: string, error?: TransportError): void {
    this.refused++;
    socket.on('error', () => {});
    socket.end(encodeReject(reason, message));
    setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
    if (this.listenerCount('connectionError') > 0) this.emit('connectionError', error ?? new LimitExceeded(`refused (${reason}): ${message}`), address);
  }
}

/** `tcp://addr:port` of a TCP peer; the listener's own endpoint for a local socket. */
function remoteUrl(socket: Socket, localUrl: string | undefined): string {
  const ip = socket.remoteAddress;
  return ip !== undefined ? `tcp://${ip.includes(':') ? `[${ip}]` : ip}:${socket.remotePort}` : (localUrl ?? 'local');
}

/** For a TLS socket: its peer's identity, read once, when the handshake first asks (the TLS handshake is done by then). */
function tlsPeerLater(socket: Socket): (() => ReturnType<typeof tlsPeerOf>) | undefined {
  if (!isTlsSocket(socket)) return undefined;
  let known: ReturnType<typeof tlsPeerOf>;
  return () => (known ??= tlsPeerOf(socket));
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new InvalidOption(`${name} must be an integer >= 1, got ${value}`);
  return value;
}

export function createServer<Local = Contract, Remote = Contract>(options?: ServerOptions): Server<Local, Remote> {
  return new Server<Local, Remote>(options);
}
