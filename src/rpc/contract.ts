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
