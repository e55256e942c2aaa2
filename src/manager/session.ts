/**
 * A session: a long-lived, self-healing line to one instance of a DCC type.
 *
 * It owns one real Connection. When that connection goes down without us asking (the
 * server died, restarted, or said SHUTDOWN), the session moves to `reconnecting` and
 * reconnects in the background with exponential backoff, asking the manager where to
 * go each time: the same instance if the registry still lists it as live, otherwise
 * (when no instance was pinned) another live instance of the same DCC type. Calls made
 * meanwhile wait for it, up to their own timeout. After `reconnectMaxRetries` failed
 * attempts it closes with ReconnectionFailed.
 *
 * A session unused for `idleTimeout` goes `idle` and releases its socket; the next
 * call reconnects it (idle → connected). Past `maxLifetime` it is closed. Both are
 * checked by `sweep()`, which the manager runs on its cleanup timer.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { CallCancelled, ConnectionClosed, DeadlineExceeded, InternalError, ReconnectionFailed } from '../errors.js';
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
import type { BidiStream, ClientStream, ServerStream, StreamOptions } from '../rpc/stream.js';
import { SessionStream } from './session-stream.js';
import { formatEndpoint, type Endpoint } from '../transport/endpoint.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { assertTransition, type SessionState } from './session-state.js';

type SessionStreamTarget = ServerStream<unknown> & ClientStream<unknown, unknown> & BidiStream<unknown, unknown>;

/** Where a session connects: one registered instance. */
export interface SessionTarget {
  instanceId: string;
  endpoint: Endpoint;
  host: string;
  port: number;
}

export interface SessionConfig {
  /** Unused this long (ms), the session goes idle and releases its socket. */
  idleTimeout: number;
  /** Closed this long (ms) after creation. */
  maxLifetime: number;
  /** Failed reconnect attempts allowed before the session closes with ReconnectionFailed. */
  reconnectMaxRetries: number;
  backoff: BackoffOptions;
}

/** What a session needs from its manager. */
export interface SessionHooks {
  /** Opens a connection (handshake done) to `endpoint`; aborts with `signal`. */
  connect(endpoint: Endpoint, signal: AbortSignal): Promise<Connection>;
  /** Where to reconnect to. Never throws: falls back to the session's current target. */
  resolve(session: SessionRef): Promise<SessionTarget>;
}

/** What the manager needs to know about a session to route its reconnects. */
export interface SessionRef {
  readonly id: string;
  readonly dccType: string;
  readonly instanceId: string;
  readonly pinned: boolean;
  readonly endpoint: Endpoint;
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
  private readonly hooks: SessionHooks;
  /** Aborted on close: stops the reconnect loop, its sleeps and connection attempts. */
  private readonly lifetime = new AbortController();
  private reconnecting: Promise<void> | undefined;
  private closeError: Error | undefined;
  private closing: Promise<void> | undefined;
  /** Callers waiting for the next state change (calls made while not connected). */
  private readonly waiters = new Set<() => void>();

  private requestCount = 0;
  private errorCount = 0;
  private totalLatencyMs = 0;
  private reconnectAttempts = 0;
  private inFlight = 0;
  private lastActivity = Date.now();
  private lastError: string | undefined;

  constructor(init: SessionInit) {
    super();
    this.id = init.id ?? randomUUID();
    this.dccType = init.dccType;
    this.pinned = init.pinned;
    this.target = init.target;
    this.config = init.config;
    this.hooks = init.hooks;
    this.adopt(init.connection, init.target);
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

  /** Calls in flight (for least-busy routing). */
  get load(): number {
    return this.inFlight;
  }

  info(): SessionInfo {
    const info: SessionInfo = {
      id: this.id,
      dccType: this.dccType,
      instanceId: this.target.instanceId,
      host: this.target.host,
      port: this.target.port,
      endpoint: formatEndpoint(this.target.endpoint),
      state: this._state,
      pinned: this.pinned,
      requestCount: this.requestCount,
      errorCount: this.errorCount,
      avgLatencyMs: this.requestCount === 0 ? 0 : this.totalLatencyMs / this.requestCount,
      errorRate: this.requestCount === 0 ? 0 : this.errorCount / this.requestCount,
      reconnectAttempts: this.reconnectAttempts,
      inFlight: this.inFlight,
      createdAt: this.createdAt,
      lastActivity: this.lastActivity,
    };
    if (this.lastError !== undefined) info.lastError = this.lastError;
    return info;
  }

  // ---------------------------------------------------------------- calls

  /**
   * Calls `method` on the instance. While the session reconnects (or wakes from idle)
   * the call waits, within its `timeout` and `signal`. Latency and outcome are recorded.
   */
  call<M extends MethodName<Remote>>(method: M, ...args: CallArgs<Remote, M>): Promise<ResultOf<Remote, M>>;
  async call(method: string, params?: unknown, options: CallOptions = {}): Promise<unknown> {
    const started = performance.now();
    const deadline = options.timeout === undefined ? undefined : Date.now() + options.timeout;
    this.inFlight++;
    this.lastActivity = Date.now();
    try {
      const connection = await this.usableConnection(deadline, options.signal, method);
      const callOptions: CallOptions = { ...options };
      if (deadline !== undefined) callOptions.timeout = Math.max(0, deadline - Date.now());
      const result = await (connection as Connection).call(method, params, callOptions);
      this.recordSuccess(performance.now() - started);
      return result;
    } catch (err) {
      this.recordError(performance.now() - started, err);
      throw err;
    } finally {
      this.inFlight--;
      this.lastActivity = Date.now();
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
    const started = performance.now();
    const deadline = options.timeout === undefined ? undefined : Date.now() + options.timeout;
    this.inFlight++;
    this.lastActivity = Date.now();
    const settle = (error: unknown, failed: boolean): void => {
      this.inFlight--;
      if (failed) this.recordError(performance.now() - started, error);
      else this.recordSuccess(performance.now() - started);
    };
    const opening = this.usableConnection(deadline, options.signal, method).then((connection) => {
      const streamOptions: StreamOptions = { ...options };
      if (deadline !== undefined) streamOptions.timeout = Math.max(0, deadline - Date.now());
      const stream = (connection as Connection)[kind](method, params, streamOptions) as SessionStreamTarget;
      stream.result.then(
        () => settle(undefined, false),
        (err: unknown) => settle(err, true),
      );
      return stream;
    });
    opening.catch((err: unknown) => settle(err, true));
    return new SessionStream(opening);
  }

  /**
   * Sends a notification once the session is connected (waiting, if it is reconnecting,
   * until it is or gives up). Resolves when the frame is queued on the socket.
   */
  notify<M extends MethodName<Remote>>(method: M, ...args: NotifyArgs<Remote, M>): Promise<void>;
  async notify(method: string, params?: unknown): Promise<void> {
    this.lastActivity = Date.now();
    const connection = await this.usableConnection(undefined, undefined, method);
    (connection as Connection).notify(method, params);
  }

  recordSuccess(latencyMs: number): void {
    this.requestCount++;
    this.totalLatencyMs += latencyMs;
    this.lastActivity = Date.now();
  }

  recordError(latencyMs: number, error: unknown): void {
    this.requestCount++;
    this.errorCount++;
    this.totalLatencyMs += latencyMs;
    this.lastActivity = Date.now();
    this.lastError = describe(error);
  }

  // ---------------------------------------------------------------- reconnecting

  /**
   * Counts a reconnect attempt and returns the backoff delay (ms) before it. Past
   * `reconnectMaxRetries` attempts the session closes and this throws ReconnectionFailed.
   * Called by hand (dcc-mcp-core's begin_reconnect), it also drops the current
   * connection and starts the background loop, whose first attempt waits that delay.
   */
  beginReconnect(): number {
    const delay = this.nextAttempt();
    if (this.reconnecting === undefined) {
      this.dropConnection();
      this.startReconnecting({ firstDelay: delay });
    }
    return delay;
  }

  /** Marks a reconnection as done: reconnecting → connected, attempt count reset. */
  reconnectSuccess(): void {
    this.transition('connected');
    this.reconnectAttempts = 0;
  }

  private nextAttempt(): number {
    if (this._state === 'closed') assertTransition(this.id, 'closed', 'reconnecting');
    this.reconnectAttempts++;
    if (this.reconnectAttempts > this.config.reconnectMaxRetries) {
      const detail = this.lastError === undefined ? '' : ` (last error: ${this.lastError})`;
      const error = new ReconnectionFailed(
        `session ${this.id} to ${this.dccType} gave up after ${this.config.reconnectMaxRetries} reconnect attempts${detail}`,
      );
      void this.close(error);
      throw error;
    }
    if (this._state !== 'reconnecting') this.transition('reconnecting');
    return backoffDelay(this.reconnectAttempts, this.config.backoff);
  }

  private startReconnecting(how: { firstDelay?: number; immediate?: boolean }): void {
    if (this.reconnecting !== undefined || this._state === 'closed') return;
    this.reconnecting = this.reconnectLoop(how)
      .catch((err: unknown) => {
        // Not expected (the loop catches what it anticipates); never leave a session half-reconnecting.
        void this.close(new InternalError(`session ${this.id}: reconnect loop failed: ${describe(err)}`, { cause: err }));
      })
      .finally(() => {
        this.reconnecting = undefined;
        // Waiting calls look again: a loop cut short (reconnectSuccess by hand) may leave work to do.
        this.notifyWaiters();
      });
  }

  /** Bounded: every pass counts an attempt, and nextAttempt() closes the session past the limit. */
  private async reconnectLoop(how: { firstDelay?: number; immediate?: boolean }): Promise<void> {
    const signal = this.lifetime.signal;
    if (how.immediate === true) {
      // Waking from idle: one attempt at once; the backoff only starts if it fails.
      if (await this.attempt(signal)) {
        if (this._state === 'idle') this.transition('connected');
        return;
      }
      if (this._state !== 'idle') return;
    }
    let delay = how.firstDelay;
    for (;;) {
      if (delay === undefined) {
        try {
          delay = this.nextAttempt();
        } catch {
          return; // retries exhausted: the session is closed
        }
      }
      if (!(await sleep(delay, signal))) return;
      delay = undefined;
      // Someone else finished the job (reconnectSuccess by hand) or closed the session.
      if (this._state !== 'reconnecting') return;
      if (await this.attempt(signal)) {
        if (this._state === 'reconnecting') this.reconnectSuccess();
        return;
      }
      if (this._state !== 'reconnecting') return;
    }
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
    this.emit('rebind', previous);
  }

  /** One connection attempt to wherever the manager says; true when it succeeded. */
  private async attempt(signal: AbortSignal): Promise<boolean> {
    try {
      const target = await this.hooks.resolve(this);
      if (signal.aborted) return false;
      const connection = await this.hooks.connect(target.endpoint, signal);
      if (signal.aborted || this._state === 'closed') {
        connection.destroy();
        return false;
      }
      this.adopt(connection, target);
      return true;
    } catch (err) {
      this.lastError = describe(err);
      return false;
    }
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
      if (error !== undefined && this._connection === undefined) this.lastError = describe(error);
    });
    if (target.instanceId !== previous) this.emit('rebind', previous);
  }

  /** Our connection is closing or closed, and not because we asked. */
  private onConnectionDown(connection: Connection): void {
    if (connection !== this._connection) return;
    this._connection = undefined;
    if (this._state === 'connected') this.startReconnecting({});
    else if (this._state === 'reconnecting') this.startReconnecting({});
    this.notifyWaiters();
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
      if (this._state === 'idle') this.startReconnecting({ immediate: true });
      else if (this._state === 'connected') this.startReconnecting({}); // marked connected by hand, but no connection
      await this.nextChange(deadline, signal, method);
    }
  }

  private nextChange(deadline: number | undefined, signal: AbortSignal | undefined, method: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(new CallCancelled(`call ${method} cancelled`, { cause: signal.reason }));
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        this.waiters.delete(done);
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const wake = (): void => {
        done();
        resolve();
      };
      const onAbort = (): void => {
        done();
        reject(new CallCancelled(`call ${method} cancelled while session ${this.id} was ${this._state}`, { cause: signal?.reason }));
      };
      this.waiters.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (deadline !== undefined) {
        timer = setTimeout(() => {
          done();
          reject(new DeadlineExceeded(`call ${method} exceeded its deadline while session ${this.id} was ${this._state}`));
        }, Math.max(0, deadline - Date.now()));
      }
    });
  }

  private notifyWaiters(): void {
    for (const wake of [...this.waiters]) wake();
  }

  // ---------------------------------------------------------------- idle, lifetime, close

  /**
   * Wakes an idle session with one immediate connection attempt. Resolves once it is
   * connected again, or (that attempt failed) reconnecting in the background.
   */
  async wake(): Promise<void> {
    if (this._state !== 'idle') return;
    this.startReconnecting({ immediate: true });
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
    const busy = this.inFlight > 0 || (this._connection?.pendingCalls ?? 0) > 0;
    if (this._state === 'connected' && !busy && now - this.lastActivity >= this.config.idleTimeout) {
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
    this.emit('state', next, previous);
    this.notifyWaiters();
  }

  /**
   * Closes for good: stops reconnecting, fails waiting calls with `error` (default
   * ConnectionClosed) and closes the connection gracefully. Idempotent.
   */
  close(error?: Error): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closeError = error ?? new ConnectionClosed(`session ${this.id} was closed`);
    if (error !== undefined) this.lastError = describe(error);
    const connection = this._connection;
    this._connection = undefined;
    this.lifetime.abort(this.closeError);
    this.transition('closed');
    this.emit('close', this.closeError);
    this.closing = connection === undefined ? Promise.resolve() : connection.close();
    return this.closing;
  }

  /** Why the session closed (undefined while open). */
  get closeReason(): Error | undefined {
    return this.closeError;
  }
}

/** Resolves true after `ms`, false at once if `signal` aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function describe(error: unknown): string {
  if (error instanceof Error) return 'code' in error && typeof error.code === 'string' ? `${error.code}: ${error.message}` : error.message;
  return String(error);
}
