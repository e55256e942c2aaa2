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
import type { CallContext } from './call-context.js';
import type { StreamOptions } from './stream.js';

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
  /** Aborting it cancels the call: a CANCEL goes to the peer, the call rejects with CallCancelled. */
  signal?: AbortSignal;
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
