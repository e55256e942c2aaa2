/**
 * The demo methods served by `wirecall serve` and examples/demo.ts. Small on purpose:
 * each one shows one feature of the library (results, chosen error statuses, thrown
 * errors, deadlines and cancellation, calling the client back).
 */
import {
  RemoteError,
  Status,
  type CallContext,
  type Implementation,
  type MessageStream,
  type PeerInfo,
  type Server,
} from '../index.js';

/** The demo's plain calls. */
export interface DemoCalls {
  /** Returns its params unchanged. */
  echo(params?: unknown): unknown;
  /** `a + b`; anything but two numbers answers INVALID_ARGUMENT. */
  add(params: { a: number; b: number }): number;
  /** Waits `ms`, then answers `{ slept: ms }`; stops early when cancelled or past the deadline. */
  sleep(params: { ms: number }): { slept: number };
  /** Throws an Error: the caller gets a METHOD_ERROR RemoteError with this message. */
  fail(params?: { message?: string }): never;
  /** Every method this connection serves. */
  methods(): string[];
  /** Who is calling, as the server sees it. */
  whoami(): PeerInfo;
  /**
   * Calls the client's `countdown.tick` for n = from…1 while handling this call, and
   * answers with what the client replied to each tick.
   */
  countdown(params: { from: number }): { from: number; acks: unknown[] };
  /** Meant as a notification: keeps its params (the last 100) for `notes`. */
  note(params?: unknown): void;
  /** The params of the notes received so far by this server, oldest first. */
  notes(): unknown[];
}

/** The demo's streams. */
export interface DemoStreams {
  /** Server stream: the integers 0 … n-1. */
  count(params: { n: number }): AsyncIterable<number>;
  /** Client stream: the sum of the numbers written. */
  sum(messages: AsyncIterable<number>): number;
  /** Bidirectional stream: every message echoed back as it arrives. */
  chat(messages: AsyncIterable<unknown>): AsyncIterable<unknown>;
}

/** What the demo server serves. */
export type DemoService = DemoCalls & DemoStreams;

/** What the demo server calls on its clients. */
export interface DemoClient {
  'countdown.tick'(params: { n: number }): unknown;
}

/**
 * The demo's methods as `wirecall serve --help` lists them: how to call each one from
 * the command line, its params and its result. A test checks it names every method.
 */
export const DEMO_METHODS_HELP = `
Demo methods: name, params -> result (call them with "wirecall call <endpoint> <name> [json]"):
  echo       any -> the params unchanged (null without params)
  add        {"a": number, "b": number} -> number a + b (else INVALID_ARGUMENT)
  sleep      {"ms": number >= 0} -> {"slept": ms}; ends early when cancelled or past --timeout
  fail       {"message"?: string} -> always fails: METHOD_ERROR with that message
  methods    none -> [string]: every method this connection serves, sorted
  whoami     none -> {"name", "version", "address", "connectionId", ...}: the caller as seen here
  countdown  {"from": integer 0..1000} -> {"from": from, "acks": [any]}; while handling it
             the server calls "countdown.tick" {"n": from..1} back on the caller, and acks
             holds the answers ("wirecall call" serves countdown.tick: "ack <n>", logged on stderr)
  note       any -> nothing; meant for "wirecall notify": the last 100 are kept for notes
  notes      none -> [any]: the params of the notes received so far, oldest first
Demo streams:
  count      --stream         {"n": integer 0..1e9} -> messages 0, 1, ..., n-1
  sum        --client-stream  messages: numbers, one JSON line each on stdin -> their sum
  chat       --bidi           messages: any JSON, one line each on stdin -> each echoed back`;

/** The demo methods a server calls back on its caller: what `wirecall call` serves. */
export function demoCallbacks(log: (line: string) => void): { [M in keyof DemoClient]: (params: unknown) => unknown } {
  return {
    'countdown.tick': (params) => {
      const n = isRecord(params) ? params['n'] : undefined;
      const ack = `ack ${typeof n === 'number' ? n : JSON.stringify(params) ?? ''}`;
      log(`countdown.tick ${JSON.stringify(params) ?? 'null'} -> ${JSON.stringify(ack)}`);
      return ack;
    },
  };
}

const MAX_COUNTDOWN = 1000;
const MAX_COUNT = 1_000_000_000;
const MAX_NOTES = 100;

function invalid(message: string): RemoteError {
  return new RemoteError(Status.INVALID_ARGUMENT, message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A fresh set of demo handlers; `note`/`notes` state is shared by the connections of one server. */
/** What the demo's `fail` method throws: an application's own error, not one of wirecall's. */
class DemoFailure extends Error {
  override name = 'DemoFailure';
}

export function createDemoMethods(): Implementation<DemoCalls, DemoClient> {
  const notes: unknown[] = [];
  return {
    echo(params) {
      return params;
    },

    add(params) {
      const { a, b } = (isRecord(params) ? params : {}) as { a?: unknown; b?: unknown };
      if (typeof a !== 'number' || typeof b !== 'number') {
        throw invalid(`add needs {"a": number, "b": number}, got ${JSON.stringify(params) ?? 'nothing'}`);
      }
      return a + b;
    },

    sleep(params, ctx) {
      const ms = isRecord(params) ? params['ms'] : undefined;
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
        throw invalid(`sleep needs {"ms": number >= 0}, got ${JSON.stringify(params) ?? 'nothing'}`);
      }
      const signal = ctx.signal;
      return new Promise<{ slept: number }>((resolve, reject) => {
        if (signal.aborted) {
          reject(signal.reason);
          return;
        }
        const onAbort = (): void => {
          clearTimeout(timer);
          reject(signal.reason);
        };
        const timer = setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          resolve({ slept: ms });
        }, ms);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    },

    fail(params) {
      const message = isRecord(params) && typeof params['message'] === 'string' ? params['message'] : 'failed on purpose';
      // A handler's own error class: the demo shows what any such error becomes (METHOD_ERROR).
      throw new DemoFailure(message);
    },

    methods(_params, ctx) {
      return ctx.connection.registry.methods();
    },

    whoami(_params, ctx) {
      return { ...ctx.peer };
    },

    async countdown(params, ctx) {
      const from = isRecord(params) ? params['from'] : undefined;
      if (typeof from !== 'number' || !Number.isInteger(from) || from < 0 || from > MAX_COUNTDOWN) {
        throw invalid(`countdown needs {"from": integer 0..${MAX_COUNTDOWN}}, got ${JSON.stringify(params) ?? 'nothing'}`);
      }
      const acks: unknown[] = [];
      for (let n = from; n >= 1; n--) {
        try {
          acks.push(await ctx.connection.call('countdown.tick', { n }, { signal: ctx.signal }));
        } catch (err) {
          if (err instanceof RemoteError && err.status === Status.METHOD_NOT_FOUND) {
            // Say what is missing rather than a bare "method not found" for a method that exists.
            throw new RemoteError(
              Status.METHOD_ERROR,
              `countdown calls countdown.tick back on the caller, which does not serve it (${err.message})`,
            );
          }
          throw err;
        }
      }
      return { from, acks };
    },

    note(params) {
      notes.push(params ?? null);
      if (notes.length > MAX_NOTES) notes.splice(0, notes.length - MAX_NOTES);
    },

    notes() {
      return [...notes];
    },
  };
}

export interface DemoOptions {
  /** Called before each handler runs (calls and notifications alike), e.g. to log. */
  onCall?: (method: string, params: unknown, ctx: CallContext<DemoClient>) => void;
}

type AnyDemoHandler = (params: unknown, ctx: CallContext<DemoClient>) => unknown;

/** count: 0 … n-1, one message each; paused by flow control, stopped by cancellation. */
async function* count(params: unknown, ctx: CallContext<DemoClient>): AsyncGenerator<number> {
  const n = isRecord(params) ? params['n'] : undefined;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_COUNT) {
    throw invalid(`count needs {"n": integer 0..${MAX_COUNT}}, got ${JSON.stringify(params) ?? 'nothing'}`);
  }
  for (let i = 0; i < n && !ctx.signal.aborted; i++) yield i;
}

async function sum(messages: MessageStream<unknown>): Promise<number> {
  let total = 0;
  for await (const m of messages) {
    if (typeof m !== 'number') throw invalid(`sum adds numbers, got ${JSON.stringify(m) ?? 'undefined'}`);
    total += m;
  }
  return total;
}

async function* chat(messages: MessageStream<unknown>): AsyncGenerator<unknown> {
  for await (const m of messages) yield m;
}

type StreamRegistrar = Pick<Server, 'implement' | 'registerStream' | 'registerClientStream' | 'registerBidiStream'>;

/** Registers the demo methods on `server`. Returns the server for chaining. */
export function registerDemoMethods<S extends Pick<Server<DemoService, DemoClient>, 'implement'>>(
  server: S,
  options: DemoOptions = {},
): S {
  const methods = createDemoMethods();
  const { onCall } = options;
  if (onCall !== undefined) {
    const handlers = methods as unknown as Record<string, AnyDemoHandler>;
    for (const [method, handler] of Object.entries(handlers)) {
      handlers[method] = (params, ctx) => {
        onCall(method, params, ctx);
        return handler(params, ctx);
      };
    }
  }
  const target = server as unknown as StreamRegistrar;
  target.implement(methods as never);
  const wrap = <F extends (...args: never[]) => unknown>(method: string, handler: F, paramsAt: number): F =>
    onCall === undefined
      ? handler
      : (((...args: Parameters<F>) => {
          onCall(method, args[paramsAt], args[args.length - 1] as CallContext<DemoClient>);
          return handler(...args);
        }) as F);
  target.registerStream('count', wrap('count', count, 0) as never);
  target.registerClientStream('sum', wrap('sum', sum, 1) as never);
  target.registerBidiStream('chat', wrap('chat', chat, 1) as never);
  return server;
}
