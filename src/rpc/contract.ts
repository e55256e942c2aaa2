/**
 * Typed contracts without code generation: describe a peer's methods as a TypeScript
 * interface whose members take one params argument and return a value or a Promise.
 *
 *   interface Calculator {
 *     add(p: { a: number; b: number }): number;
 *     now(): string;
 *   }
 *   const conn = await connect<Calculator>('tcp://127.0.0.1:4000');
 *   const sum = await conn.call('add', { a: 1, b: 2 }); // sum: number
 */
import type { TransportError } from '../errors.js';
import type { TlsPeer } from '../transport/tls-options.js';
import type { Window } from './flow.js';

// Method signatures in a contract are usually written with `any` params.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFunction = (...args: any[]) => unknown;

/** Any contract: a record of methods. The default when no contract is given. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Contract = { [method: string]: (params?: any) => any };

/** Names of the methods of a contract. */
export type MethodName<C> = {
  [K in keyof C]: C[K] extends AnyFunction ? K : never;
}[keyof C] &
  string;

/** The params type of a method. */
export type ParamsOf<C, M extends keyof C> = C[M] extends (...args: infer A) => unknown
  ? A extends [] ? undefined : A[0]
  : never;

/** The (awaited) result type of a method. */
export type ResultOf<C, M extends keyof C> = C[M] extends (...args: never[]) => infer R ? Awaited<R> : never;

/** Options for one outgoing call. */
export interface CallOptions {
  /** Milliseconds the call may take; the peer sees it as the call's deadline. */
  timeout?: number;
  /** The same as an absolute `Date.now()` time; wins over `timeout`. */
  deadline?: number;
  /** Aborting it cancels the call: a CANCEL goes to the peer, the call rejects with CallCancelled. */
  signal?: AbortSignal;
}

/** NEW → PENDING (handshake) → CONNECTED → CLOSING (draining) → CLOSED. */
export type ConnectionState = 'new' | 'pending' | 'connected' | 'closing' | 'closed';

export interface ConnectionEvents {
  state: [state: ConnectionState, previous: ConnectionState];
  /** Emitted once, when the connection is CLOSED; `error` is set unless it closed cleanly. */
  close: [error: TransportError | undefined];
  /** Every notification from the peer, handled or not. */
  notification: [method: string, params: unknown];
  /** A notification handler threw or rejected. */
  handlerError: [error: unknown, method: string];
}

/** What one side learned about the other in the handshake. */
export interface PeerInfo {
  /** The peer's self-declared name (`name` option), e.g. `maya-bridge`. */
  readonly name: string;
  /** The peer's self-declared software version. */
  readonly version: string;
  /** Negotiated wirecall protocol version. */
  readonly protocolVersion: number;
  /** Server-assigned id of this connection, the same on both sides. */
  readonly connectionId: string;
  /** Where the peer is: `tcp://addr:port`, or the Unix/pipe endpoint. */
  readonly address: string;
  /** Largest frame payload the peer accepts, in bytes. */
  readonly maxFrameSize: number;
  /** The peer's heartbeat interval in ms (0: it sends none). */
  readonly heartbeatMs: number;
  /** The protocol spoken: wirecall's own, dcc-mcp-core's envelope or DCC-Link (neither has a handshake or streams). */
  readonly dialect: 'wirecall' | 'dcc-mcp' | 'dcc-link';
  /**
   * Over TLS: the negotiated version and cipher and the peer's verified certificate
   * (subject, subject alt names, SHA-256 fingerprint). Absent on a connection without TLS.
   */
  readonly tls?: TlsPeer;
}

/**
 * What a handler can do with the connection its call came in on (`ctx.connection`):
 * call, notify and stream back to the peer. A `Connection` is one.
 */
export interface Caller<Remote = Contract> {
  readonly peer: PeerInfo | undefined;
  readonly state: ConnectionState;
  /** What this side serves on the connection: its own handlers and its server's. */
  readonly registry: { methods(): string[] };
  call<M extends MethodName<Remote>>(method: M, ...args: CallArgs<Remote, M>): Promise<ResultOf<Remote, M>>;
  notify<M extends MethodName<Remote>>(method: M, ...args: NotifyArgs<Remote, M>): void;
  stream<M extends MethodName<Remote>>(method: M, ...args: StreamArgs<Remote, M, ParamsOf<Remote, M>>): ServerStream<StreamOut<Remote, M>>;
  clientStream<M extends MethodName<Remote>>(
    method: M,
    ...args: StreamArgs<Remote, M, StreamParams<Remote, M>>
  ): ClientStream<StreamIn<Remote, M>, ResultOf<Remote, M>>;
  bidiStream<M extends MethodName<Remote>>(
    method: M,
    ...args: StreamArgs<Remote, M, StreamParams<Remote, M>>
  ): BidiStream<StreamIn<Remote, M>, StreamOut<Remote, M>>;
  ping(options?: { timeout?: number; signal?: AbortSignal }): Promise<number>;
  close(options?: { drainTimeout?: number }): Promise<void>;
}

/** The second argument of every handler. */
export interface CallContext<Remote = Contract> {
  /** The method being called. */
  readonly method: string;
  /** The caller's call id; 0 for notifications. */
  readonly id: number;
  /** True for a notification: there is no caller waiting and the return value is dropped. */
  readonly isNotification: boolean;
  /** Aborts when the caller cancels, the deadline passes or the connection closes. */
  readonly signal: AbortSignal;
  /** Absolute deadline in `Date.now()` ms, or undefined when the caller set none. */
  readonly deadline: number | undefined;
  /** Who is calling. */
  readonly peer: PeerInfo;
  /** The connection the call came in on: call or notify the peer back through it. */
  readonly connection: Caller<Remote>;
}

/** The argument list of `call(method, ...)`: params may be left out when the method takes none. */
export type CallArgs<C, M extends keyof C> = C[M] extends (...args: infer A) => unknown
  ? A extends []
    ? [params?: undefined, options?: CallOptions]
    : undefined extends A[0]
      ? [params?: A[0], options?: CallOptions]
      : [params: A[0], options?: CallOptions]
  : never;

/** The argument list of `notify(method, ...)`. */
export type NotifyArgs<C, M extends keyof C> = C[M] extends (...args: infer A) => unknown
  ? A extends []
    ? [params?: undefined]
    : undefined extends A[0]
      ? [params?: A[0]]
      : [params: A[0]]
  : never;

/**
 * A handler for method M of contract Local. `Remote` is the contract of the peer, for
 * calls back through `ctx.connection`.
 */
export type Handler<Local, M extends keyof Local, Remote = Contract> = (
  params: ParamsOf<Local, M>,
  ctx: CallContext<Remote>,
) => ResultOf<Local, M> | Promise<ResultOf<Local, M>>;

/** An untyped handler as stored in a registry. */
export type AnyHandler = (params: unknown, ctx: CallContext<Contract>) => unknown;

/** An object implementing a whole contract: `server.implement({ add: ({a, b}) => a + b })`. */
export type Implementation<Local, Remote = Contract> = {
  [M in MethodName<Local>]: Handler<Local, M, Remote>;
};

// ------------------------------------------------------------------ streams
//
// Stream methods in a contract are written as what they do:
//
//   interface Numbers {
//     count(p: { n: number }): AsyncIterable<number>;                           // server stream
//     sum(messages: AsyncIterable<number>): number;                             // client stream
//     chat(messages: AsyncIterable<string>, p: { room: string }): AsyncIterable<string>; // bidi
//   }

type IsAny<T> = 0 extends 1 & T ? true : false;

/** Messages a stream method sends to its caller. */
export type StreamOut<C, M extends keyof C> = C[M] extends (...args: never[]) => infer R
  ? IsAny<R> extends true
    ? // eslint-disable-next-line @typescript-eslint/no-explicit-any
      any
    : R extends AsyncIterable<infer T> | Iterable<infer T>
      ? T
      : unknown
  : never;

/** Messages a client or bidi stream method reads from its caller. */
export type StreamIn<C, M extends keyof C> = C[M] extends (messages: infer A, ...rest: never[]) => unknown
  ? IsAny<A> extends true
    ? // eslint-disable-next-line @typescript-eslint/no-explicit-any
      any
    : A extends AsyncIterable<infer T>
      ? T
      : unknown
  : never;

/** Params of a client or bidi stream method (its second argument). */
export type StreamParams<C, M extends keyof C> = C[M] extends (...args: infer A) => unknown
  ? A extends [unknown, infer P, ...unknown[]]
    ? P
    : A extends [unknown, (infer P)?]
      ? P | undefined
      : IsAny<A[0]> extends true
        ? // An untyped contract: params are whatever the caller passes.
          // eslint-disable-next-line @typescript-eslint/no-explicit-any
          any
        : undefined
  : never;

export type StreamState = 'open' | 'closing' | 'closed';
export type { Window as StreamWindow } from './flow.js';

export interface StreamOptions extends CallOptions {
  /**
   * Credit granted to the handler for the messages it sends us: at most this many
   * messages and bytes are in flight or buffered unread. Default: the connection's
   * `streamWindow` (1024 messages, 256 KiB).
   */
  window?: Partial<Window>;
}

/** A server stream as the caller sees it: iterate it with `for await`. */
export interface ServerStream<Out> extends AsyncIterable<Out> {
  readonly id: number;
  readonly state: StreamState;
  /** Stop the stream: the handler's signal fires, iteration ends with CallCancelled. */
  cancel(reason?: unknown): void;
  /** What the handler returned (an async generator's `return` value) once the stream is done. */
  readonly result: Promise<unknown>;
}

/** A client stream as the caller sees it: write messages, `end()`, await `result`. */
export interface ClientStream<In, Out> {
  readonly id: number;
  readonly state: StreamState;
  /** Resolves once the message is handed to the socket; waits while the handler's credit is used up. */
  write(message: In): Promise<void>;
  /** No more messages (half-close). Writes queued before it still go first. */
  end(): void;
  /** The handler's answer. */
  readonly result: Promise<Out>;
  cancel(reason?: unknown): void;
}

/** A bidirectional stream: write and end like a client stream, iterate like a server stream. */
export interface BidiStream<In, Out> extends AsyncIterable<Out> {
  readonly id: number;
  readonly state: StreamState;
  write(message: In): Promise<void>;
  end(): void;
  readonly result: Promise<unknown>;
  cancel(reason?: unknown): void;
}

/** The argument list of `stream(method, ...)` and friends. */
export type StreamArgs<C, M extends keyof C, P> = C[M] extends AnyFunction
  ? undefined extends P
    ? [params?: P, options?: StreamOptions]
    : [params: P, options?: StreamOptions]
  : never;

/** What a client or bidi stream handler reads: the caller's messages, with `for await`. */
export type MessageStream<T> = AsyncIterableIterator<T>;

type Produces<T> = AsyncIterable<T> | Iterable<T>;

/** A server stream handler: usually an async generator `async function* (params, ctx) { yield … }`. */
export type ServerStreamHandler<Local, M extends keyof Local, Remote = Contract> = (
  params: ParamsOf<Local, M>,
  ctx: CallContext<Remote>,
) => Produces<StreamOut<Local, M>>;

/** A client stream handler: reads every message, returns the one result. */
export type ClientStreamHandler<Local, M extends keyof Local, Remote = Contract> = (
  messages: MessageStream<StreamIn<Local, M>>,
  params: StreamParams<Local, M>,
  ctx: CallContext<Remote>,
) => ResultOf<Local, M> | Promise<ResultOf<Local, M>>;

/** A bidirectional stream handler: reads messages and yields replies. */
export type BidiStreamHandler<Local, M extends keyof Local, Remote = Contract> = (
  messages: MessageStream<StreamIn<Local, M>>,
  params: StreamParams<Local, M>,
  ctx: CallContext<Remote>,
) => Produces<StreamOut<Local, M>>;
