/**
 * A session: a long-lived, self-healing line to one instance of a DCC type.
 *
 * It owns one real Connection. When that connection goes down without us asking (the
 * server died, restarted, or said SHUTDOWN), the session moves to `reconnecting` and
 * its reconnect loop (session-reconnect.ts) finds it a new one. Calls made meanwhile
 * wait for it, up to their own timeout and signal. Calls and streams are counted in
 * its statistics (session-stats.ts).
 *
 * A session unused for `idleTimeout` goes `idle` and releases its socket; the next
 * call reconnects it (idle → connected). Past `maxLifetime` it is closed. Both are
 * checked by `sweep()`, which the manager runs on its cleanup timer.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ConnectionClosed } from '../errors.js';
import type { Connection } from '../rpc/connection.js';
import type {
  CallArgs,
  CallOptions,
  Contract,
  MethodName,
  NotifyArgs,
  ParamsOf,
  ResultOf,
  StreamArgs,
  StreamIn,
  StreamOut,
  StreamParams,
} from '../rpc/contract.js';
import type { BidiStream, ClientStream, ServerStream, StreamOptions } from '../rpc/contract.js';
import { formatEndpoint, type Endpoint } from '../transport/endpoint.js';
import { Reconnector, type ReconnectConfig, type SessionHooks, type SessionTarget } from './session-reconnect.js';
import { assertTransition, type SessionState } from './session-state.js';
import { sessionClosed, sessionOpened, sessionRebound, sessionStateChanged } from './session-channels.js';
import { SessionStats } from './session-stats.js';
import { SessionStream } from './session-stream.js';
import { SessionWaiters } from './session-waiters.js';

type SessionStreamTarget = ServerStream<unknown> & ClientStream<unknown, unknown> & BidiStream<unknown, unknown>;

export interface SessionConfig extends ReconnectConfig {
  /** Unused this long (ms), the session goes idle and releases its socket. */
  idleTimeout: number;
  /** Closed this long (ms) after creation. */
  maxLifetime: number;
}

/** A snapshot of a session (dcc-mcp-core's session dict, in TypeScript names). */
export interface SessionInfo {
  id: string;
  dccType: string;
  instanceId: string;
  host: string;
  port: number;
  /** The endpoint of the instance, e.g. `unix:/run/…/maya.sock` or `tcp://127.0.0.1:18812`. */
  endpoint: string;
  state: SessionState;
  /** The instance was chosen by the caller (by id); such a session never moves to another instance. */
  pinned: boolean;
  /** Calls that finished, successfully or not. */
  requestCount: number;
  errorCount: number;
  /** Mean latency of finished calls, ms. */
  avgLatencyMs: number;
  /** errorCount / requestCount (0 when there were none). */
  errorRate: number;
  /** Reconnect attempts since the last successful (re)connection. */
  reconnectAttempts: number;
  /** Calls in flight right now. */
  inFlight: number;
  /** ms since the Unix epoch. */
  createdAt: number;
  lastActivity: number;
  /** Message of the last failed call or connection attempt. */
  lastError?: string;
}

export interface SessionEvents {
  state: [state: SessionState, previous: SessionState];
  /** The session moved to another instance; `instanceId` is the new one. */
  rebind: [previousInstanceId: string];
  /** Closed for good; `error` says why (ReconnectionFailed, lifetime, or ConnectionClosed when closed on purpose). */
  close: [error: Error];
}

export interface SessionInit {
  dccType: string;
  target: SessionTarget;
  /** True when the caller chose the instance: reconnects never move to another one. */
  pinned: boolean;
  /** The first connection, already open. */
  connection: Connection;
  config: SessionConfig;
  hooks: SessionHooks;
  id?: string;
}

export class Session<Remote = Contract> extends EventEmitter<SessionEvents> {
  readonly id: string;
  readonly dccType: string;
  readonly pinned: boolean;
  readonly createdAt = Date.now();

  private _state: SessionState = 'connected';
  private target: SessionTarget;
  private _connection: Connection | undefined;
  private readonly config: SessionConfig;
  private readonly stats = new SessionStats();
  /** Aborted on close: stops the reconnect loop, its sleeps and connection attempts. */
  private readonly lifetime = new AbortController();
  private readonly reconnector: Reconnector;
  private closeError: Error | undefined;
  private closing: Promise<void> | undefined;
  /** Calls made while not connected, waiting for the next state change. */
  private readonly waiters = new SessionWaiters();

  constructor(init: SessionInit) {
    super();
    this.id = init.id ?? randomUUID();
    this.dccType = init.dccType;
    this.pinned = init.pinned;
    this.target = init.target;
    this.config = init.config;
    this.reconnector = new Reconnector(
      {
        session: this,
        transition: (next) => this.transition(next),
        adopt: (connection, target) => this.adopt(connection, target),
        close: (error) => void this.close(error),
        noteFailure: (error) => this.stats.noteError(error),
        lastFailure: () => this.stats.lastError,
        ended: () => this.waiters.wakeAll(),
      },
      init.config,
      init.hooks,
      this.lifetime.signal,
    );
    this.adopt(init.connection, init.target);
    sessionOpened(this);
  }

  get state(): SessionState {
    return this._state;
  }

  get instanceId(): string {
    return this.target.instanceId;
  }

  get endpoint(): Endpoint {
    return this.target.endpoint;
  }

  /** The current connection; undefined while idle, reconnecting or closed. */
  get connection(): Connection<Remote> | undefined {
    return this._connection as Connection<Remote> | undefined;
  }

  /** Calls waiting for the session to (re)connect. */
  get waitingCalls(): number {
    return this.waiters.size;
  }

  /** Calls in flight (for least-busy routing). */
  get load(): number {
    return this.stats.inFlight;
  }

  info(): SessionInfo {
    const { stats } = this;
    const info: SessionInfo = {
      id: this.id,
      dccType: this.dccType,
      instanceId: this.target.instanceId,
      host: this.target.host,
      port: this.target.port,
      endpoint: formatEndpoint(this.target.endpoint),
      state: this._state,
      pinned: this.pinned,
      requestCount: stats.requests,
      errorCount: stats.errors,
      avgLatencyMs: stats.avgLatencyMs,
      errorRate: stats.errorRate,
      reconnectAttempts: this.reconnector.attempts,
      inFlight: stats.inFlight,
      createdAt: this.createdAt,
      lastActivity: stats.lastActivity,
    };
    if (stats.lastError !== undefined) info.lastError = stats.lastError;
    return info;
  }

  // ---------------------------------------------------------------- calls

  /**
   * Calls `method` on the instance. While the session reconnects (or wakes from idle)
   * the call waits, within its `timeout` and `signal`. Latency and outcome are recorded.
   */
  call<M extends MethodName<Remote>>(method: M, ...args: CallArgs<Remote, M>): Promise<ResultOf<Remote, M>>;
  async call(method: string, params?: unknown, options: CallOptions = {}): Promise<unknown> {
    const deadline = deadlineOf(options);
    const request = this.stats.begin();
    try {
      const connection = await this.usableConnection(deadline, options.signal, method);
      const result = await connection.call(method, params, withRemaining(options, deadline));
      request.succeeded();
      return result;
    } catch (err) {
      request.failed(err);
      throw err;
    }
  }

  /**
   * Opens a server stream on the instance (waiting, like `call`, while the session
   * reconnects). Used like `Connection.stream`; the stream's outcome and duration are
   * recorded as one request when it ends.
   */
  stream<M extends MethodName<Remote>>(method: M, ...args: StreamArgs<Remote, M, ParamsOf<Remote, M>>): ServerStream<StreamOut<Remote, M>>;
  stream(method: string, params?: unknown, options?: StreamOptions): ServerStream<unknown> {
    return this.openStream('stream', method, params, options);
  }

  /** Opens a client stream on the instance; see `stream`. */
  clientStream<M extends MethodName<Remote>>(
    method: M,
    ...args: StreamArgs<Remote, M, StreamParams<Remote, M>>
  ): ClientStream<StreamIn<Remote, M>, ResultOf<Remote, M>>;
  clientStream(method: string, params?: unknown, options?: StreamOptions): ClientStream<unknown, unknown> {
    return this.openStream('clientStream', method, params, options);
  }

  /** Opens a bidirectional stream on the instance; see `stream`. */
  bidiStream<M extends MethodName<Remote>>(
    method: M,
    ...args: StreamArgs<Remote, M, StreamParams<Remote, M>>
  ): BidiStream<StreamIn<Remote, M>, StreamOut<Remote, M>>;
  bidiStream(method: string, params?: unknown, options?: StreamOptions): BidiStream<unknown, unknown> {
    return this.openStream('bidiStream', method, params, options);
  }

  private openStream(
    kind: 'stream' | 'clientStream' | 'bidiStream',
    method: string,
    params: unknown,
    options: StreamOptions = {},
  ): SessionStream {
    const deadline = deadlineOf(options);
    const request = this.stats.begin();
    const opening = this.usableConnection(deadline, options.signal, method).then((connection) => {
      const stream = connection[kind](method, params, withRemaining(options, deadline)) as SessionStreamTarget;
      stream.result.then(
        () => request.succeeded(),
        (err: unknown) => request.failed(err),
      );
      return stream;
    });
    opening.catch((err: unknown) => request.failed(err));
    return new SessionStream(opening);
  }

  /**
   * Sends a notification once the session is connected (waiting, if it is reconnecting,
   * until it is or gives up). Resolves when the frame is queued on the socket.
   */
  notify<M extends MethodName<Remote>>(method: M, ...args: NotifyArgs<Remote, M>): Promise<void>;
  async notify(method: string, params?: unknown): Promise<void> {
    this.stats.touch();
    const connection = await this.usableConnection(undefined, undefined, method);
    connection.notify(method, params);
  }

  recordSuccess(latencyMs: number): void {
    this.stats.success(latencyMs);
  }

  recordError(latencyMs: number, error: unknown): void {
    this.stats.failure(latencyMs, error);
  }

  // ---------------------------------------------------------------- reconnecting

  /**
   * Counts a reconnect attempt and returns the backoff delay (ms) before it. Past
   * `reconnectMaxRetries` attempts the session closes and this throws ReconnectionFailed.
   * Called by hand (dcc-mcp-core's begin_reconnect), it also drops the current
   * connection and starts the background loop, whose first attempt waits that delay.
   */
  beginReconnect(): number {
    const delay = this.reconnector.nextAttempt();
    if (!this.reconnector.running) {
      this.dropConnection();
      this.reconnector.start({ firstDelay: delay });
    }
    return delay;
  }

  /** Marks a reconnection as done: reconnecting → connected, attempt count reset. */
  reconnectSuccess(): void {
    this.reconnector.succeeded();
  }

  /**
   * The registry now lists the process this session reaches under another instance id:
   * it restarted on the same endpoint, and the session reconnected before the new
   * process registered (a server listens first, then registers). Takes the new id
   * without touching the connection; emits 'rebind'.
   */
  retarget(target: SessionTarget): void {
    if (this._state === 'closed' || target.instanceId === this.target.instanceId) return;
    const previous = this.target.instanceId;
    this.target = target;
    sessionRebound(this, previous);
    this.emit('rebind', previous);
  }

  private adopt(connection: Connection, target: SessionTarget): void {
    const previous = this.target.instanceId;
    this.target = target;
    this._connection = connection;
    const onState = (state: string): void => {
      if (state !== 'closing' && state !== 'closed') return;
      connection.off('state', onState);
      this.onConnectionDown(connection);
    };
    connection.on('state', onState);
    connection.once('close', (error) => {
      if (error !== undefined && this._connection === undefined) this.stats.noteError(error);
    });
    if (target.instanceId !== previous) {
      sessionRebound(this, previous);
      this.emit('rebind', previous);
    }
  }

  /** Our connection is closing or closed, and not because we asked. */
  private onConnectionDown(connection: Connection): void {
    if (connection !== this._connection) return;
    this._connection = undefined;
    if (this._state === 'connected' || this._state === 'reconnecting') this.reconnector.start();
    this.waiters.wakeAll();
  }

  /** Forget the current connection and close it gracefully (its in-flight calls may finish). */
  private dropConnection(): void {
    const connection = this._connection;
    this._connection = undefined;
    if (connection !== undefined) void connection.close();
  }

  /**
   * The connection to call on, waiting (within `deadline` and `signal`) while the
   * session reconnects or wakes up. Each pass waits for a state change, so this does
   * not spin; the reconnect loop bounds how many changes there can be.
   */
  private async usableConnection(deadline: number | undefined, signal: AbortSignal | undefined, method: string): Promise<Connection> {
    for (;;) {
      if (this._state === 'closed') throw this.closeError!;
      const connection = this._connection;
      if (this._state === 'connected' && connection?.state === 'connected') return connection;
      if (this._state === 'idle') this.reconnector.start({ immediate: true });
      else if (this._state === 'connected') this.reconnector.start(); // marked connected by hand, but no connection
      await this.nextChange(deadline, signal, method);
    }
  }

  /** Waits for the next state change, within `deadline` and `signal`. */
  private nextChange(deadline: number | undefined, signal: AbortSignal | undefined, method: string): Promise<void> {
    return this.waiters.next(method, deadline, signal, () => `session ${this.id} was ${this._state}`);
  }

  // ---------------------------------------------------------------- idle, lifetime, close

  /**
   * Wakes an idle session with one immediate connection attempt. Resolves once it is
   * connected again, or (that attempt failed) reconnecting in the background.
   */
  async wake(): Promise<void> {
    if (this._state !== 'idle') return;
    this.reconnector.start({ immediate: true });
    while (this._state === 'idle') await this.nextChange(undefined, undefined, 'wake');
  }

  /**
   * Applies the idle timeout and the max lifetime at time `now`. Returns what it did:
   * 'closed' (lifetime over), 'idled' (socket released), or undefined.
   */
  sweep(now = Date.now()): 'closed' | 'idled' | undefined {
    if (this._state === 'closed') return undefined;
    if (now - this.createdAt >= this.config.maxLifetime) {
      void this.close(new ConnectionClosed(`session ${this.id} reached its max lifetime of ${this.config.maxLifetime} ms`));
      return 'closed';
    }
    const busy = this.stats.inFlight > 0 || (this._connection?.pendingCalls ?? 0) > 0;
    if (this._state === 'connected' && !busy && now - this.stats.lastActivity >= this.config.idleTimeout) {
      this.transition('idle');
      this.dropConnection();
      return 'idled';
    }
    return undefined;
  }

  /** Moves to `next`; throws InvalidSessionState for a transition the state machine forbids. */
  transition(next: SessionState): void {
    const previous = this._state;
    assertTransition(this.id, previous, next);
    this._state = next;
    sessionStateChanged(this, next, previous);
    this.emit('state', next, previous);
    this.waiters.wakeAll();
  }

  /**
   * Closes for good: stops reconnecting, fails waiting calls with `error` (default
   * ConnectionClosed) and closes the connection gracefully. Idempotent.
   */
  close(error?: Error): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closeError = error ?? new ConnectionClosed(`session ${this.id} was closed`);
    if (error !== undefined) this.stats.noteError(error);
    const connection = this._connection;
    this._connection = undefined;
    this.lifetime.abort(this.closeError);
    this.transition('closed');
    sessionClosed(this, this.closeError);
    this.emit('close', this.closeError);
    this.closing = connection === undefined ? Promise.resolve() : connection.close();
    return this.closing;
  }

  /** Why the session closed (undefined while open). */
  get closeReason(): Error | undefined {
    return this.closeError;
  }
}

/**
 * The absolute deadline of a call made with `options`: a session may wait for a
 * connection first, and the call gets what is left.
 */
function deadlineOf(options: { timeout?: number }): number | undefined {
  return options.timeout === undefined ? undefined : Date.now() + options.timeout;
}

/** `options` with the timeout left until `deadline`. */
function withRemaining<O extends { timeout?: number }>(options: O, deadline: number | undefined): O {
  return deadline === undefined ? options : { ...options, timeout: Math.max(0, deadline - Date.now()) };
}
