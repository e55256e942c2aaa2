/**
 * Streaming calls: the caller's side (OutgoingStream) and the handler's side
 * (IncomingStream). The connection owns the socket and the id tables; a stream only
 * sees the narrow links below, so its state machine can be read on its own.
 *
 * States, per stream: OPEN (both directions may carry messages) → CLOSING (one
 * direction is done: the caller half-closed, or the stream is a server stream, whose
 * caller sends nothing after the params) → CLOSED (the handler finished with a result
 * or an error, or the stream was cancelled, expired or lost with its connection).
 */
import { CallCancelled, DeadlineExceeded, InvalidArgument, InvalidOption, MessageTooLarge, RemoteError, StreamClosed } from '../errors.js';
import { Status } from '../status.js';
import {
  encodeCallerCredit,
  encodeCallerEnd,
  encodeCallerMessage,
  encodeCancel,
  encodeHandlerCredit,
  encodeHandlerMessage,
  payloadSize,
} from '../wire/encode.js';
import { StreamKind } from '../wire/native.js';
import type { BidiStream, CallContext, Caller, ClientStream, Contract, PeerInfo, ServerStream, StreamState } from './contract.js';
import { InboundQueue, SendCredit, type GrowthBudget, type Window } from './flow.js';
import { HandlerSignal } from './handler-signal.js';
import type { Timed } from './timer-queue.js';
import { statusOf, traceAnswered, traceEnd, traceOutcome, type TraceContext } from './tracing.js';
import { isThenable } from '../util/is-thenable.js';

/** What both ends of a stream need from their connection. */
interface StreamLink {
  write(frame: Buffer): void;
  /** Write and flush at once: credit must not wait for the end of the tick (see grant). */
  writeNow(frame: Buffer): void;
  readonly peerMaxFrameSize: number;
  /**
   * Undefined while the connection's writes keep up; while they pile up unsent (over
   * its high-water mark), a promise that resolves once they are back under it. Producers
   * wait on it, so the credit a peer grants (2^32 - 1 bytes, say, then never reading)
   * cannot make us produce and buffer more than the connection's limit, however many
   * streams hold it. (The credit itself is not capped: a receiver gives credit back in
   * batches of half its window, so a sender holding less than that would wait forever.)
   */
  whenWritable(): Promise<void> | undefined;
}

/** What an OutgoingStream needs from its connection. */
export interface CallerLink extends StreamLink {
  /** The stream is over: drop it from the tables and the deadline queue. */
  finished(stream: OutgoingStream): void;
}

/** What an IncomingStream needs from its connection. */
export interface HandlerLink extends StreamLink {
  finished(stream: IncomingStream): void;
  /** These two return the status sent (a result that cannot be sent goes as an ERROR). */
  sendResult(id: number, method: string, value: unknown): number;
  sendFailure(id: number, error: unknown): number;
  sendDeadline(id: number, method: string): void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** What became of a stream message: taken, sent without credit, or sent against the stream's kind. */
export type Delivery = 'ok' | 'no-credit' | 'wrong-kind';

function kindName(kind: StreamKind): string {
  return kind === StreamKind.SERVER ? 'server stream' : kind === StreamKind.CLIENT ? 'client stream' : 'bidirectional stream';
}

/** The caller's side of one stream. Implements all three public shapes; the API narrows it. */
export class OutgoingStream implements Timed, ServerStream<unknown>, ClientStream<unknown, unknown>, BidiStream<unknown, unknown> {
  dueAt = 0;
  heapIndex = -1;
  signal: AbortSignal | undefined = undefined;
  private readonly inbound: InboundQueue<unknown> | undefined;
  private readonly credit: SendCredit | undefined;
  private outcome: Outcome | undefined = undefined;
  private resultPromise: Promise<unknown> | undefined = undefined;
  private settleResult: ((o: Outcome) => void) | undefined = undefined;
  private localEnded: boolean;
  /** Set while someone subscribes to `wirecall:stream` (tracing.ts). */
  private trace: TraceContext | undefined = undefined;

  constructor(
    private readonly link: CallerLink,
    readonly id: number,
    readonly kind: StreamKind,
    readonly method: string,
    window: Window,
    peerWindow: Window,
    /** How far our window may grow (flow.ts); `window` when it stays fixed. */
    windowLimit: Window = window,
    /** The connection's budget for window growth. */
    growth?: GrowthBudget,
  ) {
    this.localEnded = kind === StreamKind.SERVER;
    if (kind !== StreamKind.CLIENT) {
      this.inbound = new InboundQueue(
        window,
        {
          // Credit goes out at once, not at the end of the tick: a for-await consumer drains
          // its whole buffer in one run of microtasks, and credit held back until then left
          // each side idle half the time (stream-small: 0.35 → 0.6 of raw).
          grant: (messages, bytes) => {
            if (this.outcome === undefined) this.link.writeNow(encodeCallerCredit(this.id, messages, bytes));
          },
          abandon: () => this.cancel(new CallCancelled('the caller stopped reading the stream')),
        },
        windowLimit,
        growth,
      );
    }
    if (kind !== StreamKind.SERVER) this.credit = new SendCredit(peerWindow, (frame) => this.link.write(frame));
  }

  get state(): StreamState {
    return this.outcome !== undefined ? 'closed' : this.localEnded ? 'closing' : 'open';
  }

  [Symbol.asyncIterator](): AsyncIterator<unknown> {
    if (this.inbound === undefined) throw new InvalidOption(`a ${kindName(this.kind)} has no messages to iterate; await its result`);
    return this.inbound;
  }

  write(message: unknown): Promise<void> {
    if (this.credit === undefined) return Promise.reject(new InvalidOption(`a ${kindName(this.kind)} takes no messages from the caller`));
    if (this.outcome !== undefined && !this.outcome.ok) return Promise.reject(this.outcome.error);
    if (this.localEnded || this.outcome !== undefined) {
      return Promise.reject(new StreamClosed(this.localEnded ? 'write after end()' : `${this.method}: the handler has finished the stream`));
    }
    let frame: Buffer;
    try {
      frame = encodeCallerMessage(this.id, message);
    } catch (err) {
      return Promise.reject(new InvalidArgument(`message for ${this.method} cannot be encoded: ${(err as Error).message}`, { cause: err }));
    }
    const size = payloadSize(frame);
    if (size > this.link.peerMaxFrameSize) return Promise.reject(new MessageTooLarge(size, this.link.peerMaxFrameSize, `a message of ${this.method}`));
    const sent = this.credit.send(frame, size);
    const writable = this.link.whenWritable();
    return writable === undefined ? sent : sent.then(() => writable);
  }

  end(): void {
    if (this.localEnded || this.credit === undefined) return;
    this.localEnded = true;
    if (this.outcome === undefined) this.credit.sendLast(encodeCallerEnd(this.id));
  }

  cancel(reason?: unknown): void {
    if (this.outcome !== undefined) return;
    this.link.write(encodeCancel(this.id));
    this.finish({ ok: false, error: new CallCancelled(`${this.method}: stream cancelled`, { cause: reason }) });
  }

  get result(): Promise<unknown> {
    if (this.resultPromise === undefined) {
      if (this.outcome !== undefined) {
        this.resultPromise = this.outcome.ok ? Promise.resolve(this.outcome.value) : Promise.reject(this.outcome.error);
      } else {
        this.resultPromise = new Promise((resolve, reject) => {
          this.settleResult = (o) => (o.ok ? resolve(o.value) : reject(o.error));
        });
      }
    }
    return this.resultPromise;
  }

  /** Publish this stream's end on `ctx` (at once if it has ended already). */
  traceWith(ctx: TraceContext): void {
    ctx.id = this.id;
    this.trace = ctx;
    if (this.outcome !== undefined) traceOutcome(ctx, this.outcome);
  }

  // ------------------------------------------------------------ from the connection

  /** A HANDLER_MESSAGE. */
  onMessage(value: unknown, size: number): Delivery {
    if (this.inbound === undefined) return 'wrong-kind';
    return this.inbound.push(value, size) ? 'ok' : 'no-credit';
  }

  onCredit(messages: number, bytes: number): void {
    this.credit?.grant(messages, bytes);
  }

  onResult(value: unknown): void {
    this.finish({ ok: true, value });
  }

  onError(error: unknown): void {
    this.finish({ ok: false, error });
  }

  /** The connection failed or closed: no frames, just the error. */
  lost(error: unknown): void {
    this.finish({ ok: false, error });
  }

  /** The deadline passed (TimerQueue). */
  fire(): void {
    if (this.outcome !== undefined) return;
    this.link.write(encodeCancel(this.id));
    this.finish({ ok: false, error: new DeadlineExceeded(`${this.method}: stream exceeded its deadline`) });
  }

  /** The caller's AbortSignal fired. */
  handleEvent(): void {
    this.cancel(this.signal?.reason);
  }

  private finish(outcome: Outcome): void {
    if (this.outcome !== undefined) return;
    this.outcome = outcome;
    this.signal?.removeEventListener('abort', this);
    this.link.finished(this);
    if (this.trace !== undefined) traceOutcome(this.trace, outcome);
    if (outcome.ok) {
      this.inbound?.end();
      this.credit?.fail(new StreamClosed(`${this.method}: the handler has finished the stream`));
    } else {
      this.inbound?.fail(outcome.error);
      this.credit?.fail(outcome.error);
    }
    this.settleResult?.(outcome);
  }
}

/** A stream that failed before it was opened (connection not open, params not encodable…). */
export function failedStream(method: string, kind: StreamKind, error: unknown): OutgoingStream {
  const none: CallerLink = {
    write() {},
    writeNow() {},
    peerMaxFrameSize: 0,
    whenWritable: () => undefined,
    finished() {},
  };
  const stream = new OutgoingStream(none, 0, kind, method, { messages: 1, bytes: 1 }, { messages: 1, bytes: 1 });
  stream.lost(error);
  return stream;
}

export type StreamHandler = (...args: unknown[]) => unknown;

/** The handler's side of one stream; it is also the handler's `ctx`. */
export class IncomingStream extends HandlerSignal implements Timed, CallContext<Contract> {
  dueAt = 0;
  heapIndex = -1;
  done = false;
  readonly isNotification = false;
  trace: TraceContext | undefined = undefined; // while `wirecall:stream` has subscribers (tracing.ts)
  private readonly inbound: InboundQueue<unknown> | undefined;
  private readonly credit: SendCredit | undefined;
  private iterator: Iterator<unknown> | AsyncIterator<unknown> | undefined = undefined;

  constructor(
    readonly connection: Caller<Contract>,
    private readonly link: HandlerLink,
    readonly id: number,
    readonly method: string,
    readonly kind: StreamKind,
    readonly deadline: number | undefined,
    /** Credit the caller granted for our messages. */
    callerWindow: Window,
    /** Credit we grant the caller for its messages. */
    ourWindow: Window,
    /** How far that window may grow (flow.ts). */
    ourWindowLimit: Window = ourWindow,
    /** The connection's budget for window growth. */
    growth?: GrowthBudget,
  ) {
    super();
    if (kind !== StreamKind.SERVER) {
      this.inbound = new InboundQueue(
        ourWindow,
        {
          grant: (messages, bytes) => {
            if (!this.done) this.link.writeNow(encodeHandlerCredit(this.id, messages, bytes));
          },
          // The handler stopped reading: what the caller still sends is dropped (with its credit returned).
          abandon: () => {},
        },
        ourWindowLimit,
        growth,
      );
    }
    if (kind !== StreamKind.CLIENT) this.credit = new SendCredit(callerWindow, (frame) => this.link.write(frame));
  }

  get peer(): PeerInfo {
    return this.connection.peer!;
  }

  /** Run the handler: `(params, ctx)` for server streams, `(messages, params, ctx)` otherwise. */
  start(handler: StreamHandler, params: unknown): void {
    let out: unknown;
    try {
      out = this.kind === StreamKind.SERVER ? handler(params, this) : handler(this.inbound, params, this);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.kind === StreamKind.CLIENT) {
      if (isThenable(out)) out.then((v) => this.complete(v), (e: unknown) => this.fail(e));
      else this.complete(out);
      return;
    }
    const iterator = iteratorOf(out);
    if (iterator === undefined) {
      this.fail(new TypeError(`handler of ${this.method} must return an async iterable (write it as an async generator)`));
      return;
    }
    this.iterator = iterator;
    void this.pump(iterator);
  }

  /** Move the handler's messages to the caller, resuming the generator only while credit lasts. */
  private async pump(iterator: Iterator<unknown> | AsyncIterator<unknown>): Promise<void> {
    const credit = this.credit!;
    try {
      for (;;) {
        if (!credit.canSend) await credit.ready();
        const writable = this.link.whenWritable();
        if (writable !== undefined) await writable;
        if (this.done) return;
        const r = await iterator.next();
        if (this.done) return;
        if (r.done === true) {
          this.complete(r.value);
          return;
        }
        // The same statuses as a call result that cannot be sent (SERVER_ERROR, RESOURCE_EXHAUSTED).
        let frame: Buffer;
        try {
          frame = encodeHandlerMessage(this.id, r.value);
        } catch (err) {
          throw new RemoteError(Status.SERVER_ERROR, `a message of ${this.method} cannot be encoded: ${(err as Error).message}`, {
            remoteName: 'EncodeError',
            cause: err,
          });
        }
        const size = payloadSize(frame);
        if (size > this.link.peerMaxFrameSize) {
          throw new RemoteError(
            Status.RESOURCE_EXHAUSTED,
            `a message of ${this.method} is ${size} bytes, over the caller's limit of ${this.link.peerMaxFrameSize}`,
            { remoteName: 'FrameTooLarge' },
          );
        }
        void credit.send(frame, size);
      }
    } catch (err) {
      if (!this.done) {
        this.fail(err);
        this.closeIterator();
      }
    }
  }

  // ------------------------------------------------------------ from the connection

  /** A CALLER_MESSAGE. */
  onMessage(value: unknown, size: number): Delivery {
    if (this.inbound === undefined) return 'wrong-kind';
    return this.inbound.push(value, size) ? 'ok' : 'no-credit';
  }

  onEnd(): void {
    this.inbound?.end();
  }

  onCredit(messages: number, bytes: number): void {
    this.credit?.grant(messages, bytes);
  }

  /** CANCEL from the caller, or the connection went away: stop, say nothing. */
  abort(reason: unknown): void {
    if (this.done) return;
    this.stop(reason);
  }

  /** The deadline passed (TimerQueue). */
  fire(): void {
    if (this.done) return;
    // The answer goes out before the stream is forgotten: forgetting the last stream of
    // a closing connection ends the connection.
    this.link.sendDeadline(this.id, this.method);
    this.stop(new DeadlineExceeded(`deadline of ${this.method} passed`));
  }

  private stop(reason: unknown): void {
    this.done = true;
    if (this.trace !== undefined) traceEnd(this.trace, true, reason, statusOf(reason));
    this.link.finished(this);
    this.abortSignal(reason);
    this.inbound?.fail(reason);
    this.inbound?.discard();
    this.credit?.fail(reason);
    this.closeIterator();
  }

  private complete(value: unknown): void {
    if (this.done) return;
    this.done = true;
    const status = this.link.sendResult(this.id, this.method, value);
    if (this.trace !== undefined) traceAnswered(this.trace, value, status);
    this.inbound?.discard();
    this.link.finished(this);
  }

  private fail(error: unknown): void {
    if (this.done) return;
    this.done = true;
    const status = this.link.sendFailure(this.id, error);
    if (this.trace !== undefined) traceEnd(this.trace, true, error, status);
    this.inbound?.discard();
    this.credit?.fail(error);
    this.link.finished(this);
  }

  /** Ask the generator to finish, so its `finally` blocks run. */
  private closeIterator(): void {
    const it = this.iterator;
    this.iterator = undefined;
    if (it?.return === undefined) return;
    try {
      const r = it.return(undefined);
      if (isThenable(r)) r.then(undefined, () => {});
    } catch {
      // The handler's cleanup threw; the stream is over either way.
    }
  }
}

function iteratorOf(value: unknown): Iterator<unknown> | AsyncIterator<unknown> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Partial<AsyncIterable<unknown> & Iterable<unknown>>;
  const asyncIterable = v[Symbol.asyncIterator];
  if (typeof asyncIterable === 'function') return asyncIterable.call(v);
  const iterable = v[Symbol.iterator];
  if (typeof iterable === 'function') return iterable.call(v);
  return undefined;
}
