/**
 * Calls we make: one Promise per call, integer ids in a CallTable, deadlines in the
 * connection's TimerQueue (no timer per call), cancellation through an AbortSignal
 * whose listener is the call object itself (no closure per call).
 */
import { CallCancelled, DeadlineExceeded, InvalidArgument, MessageTooLarge } from '../errors.js';
import type { ErrorBody } from '../wire/native.js';
import { CallTable } from './call-table.js';
import type { CallOptions } from './contract.js';
import { callDeadline } from './deadline.js';
import { errorFromBody } from './error-body.js';
import type { Frames } from './frames.js';
import type { Outbox } from './outbox.js';
import type { TimerQueue, Timed } from './timer-queue.js';
import type { TraceContext } from './tracing.js';

/** What outgoing calls need from their connection. */
export interface OutgoingLink {
  readonly out: Outbox;
  readonly frames: Frames;
  readonly deadlines: TimerQueue;
  readonly defaultTimeout: number | undefined;
  /** Send a call's frame (the dialect may hold it back a while). */
  sendCall(frame: Buffer): void;
  /** The next id for a call or stream of ours. */
  allocateId(): number;
  /** A call finished: a closing connection may be drained now. */
  settled(): void;
}

/** One call we made that awaits its result. */
class OutgoingCall implements Timed {
  dueAt = 0;
  heapIndex = -1;
  signal: AbortSignal | undefined = undefined;

  constructor(
    private readonly calls: OutgoingCalls,
    readonly id: number,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: unknown) => void,
  ) {}

  /** Deadline reached (TimerQueue). */
  fire(): void {
    this.calls.expire(this);
  }

  /** AbortSignal listener; an object listener costs no closure per call. */
  handleEvent(): void {
    this.calls.abort(this);
  }
}

export class OutgoingCalls {
  private readonly table = new CallTable<OutgoingCall>();
  /** CALLs sent, and those of them that failed (error answer, deadline, cancelled, connection lost). */
  made = 0;
  failed = 0;
  /** NOTIFYs sent. */
  notified = 0;

  constructor(private readonly link: OutgoingLink) {}

  get size(): number {
    return this.table.size;
  }

  has(id: number): boolean {
    return this.table.has(id);
  }

  /** Send a CALL; the promise settles with its RESULT or ERROR, its deadline, its signal or the connection's end. */
  call(method: string, params: unknown, options: CallOptions | undefined, trace?: TraceContext): Promise<unknown> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(new CallCancelled('call cancelled before it was sent', { cause: signal.reason }));
    let deadline;
    try {
      deadline = callDeadline(options, this.link.defaultTimeout);
    } catch (err) {
      return Promise.reject(err);
    }
    const id = this.link.allocateId();
    if (trace !== undefined) trace.id = id;
    let frame: Buffer;
    try {
      frame = this.link.frames.call(id, method, params, deadline === undefined ? null : deadline.wireMs);
    } catch (err) {
      return Promise.reject(new InvalidArgument(`params for ${method} cannot be encoded: ${(err as Error).message}`, { cause: err }));
    }
    const out = this.link.out;
    const excess = out.excess(frame);
    if (excess > 0) return Promise.reject(new MessageTooLarge(excess, out.peerMaxFrameSize, `call of ${method}`));
    return new Promise((resolve, reject) => {
      const call = new OutgoingCall(this, id, resolve, reject);
      this.table.set(id, call);
      this.made++;
      this.link.sendCall(frame);
      if (deadline !== undefined) {
        call.dueAt = deadline.at;
        this.link.deadlines.add(call);
      }
      if (signal !== undefined) {
        call.signal = signal;
        signal.addEventListener('abort', call, { once: true });
      }
    });
  }

  /** Send a NOTIFY: no reply, no delivery guarantee beyond the socket's. */
  notify(method: string, params: unknown): void {
    let frame: Buffer;
    try {
      frame = this.link.frames.notify(method, params);
    } catch (err) {
      throw new InvalidArgument(`params for ${method} cannot be encoded: ${(err as Error).message}`, { cause: err });
    }
    const out = this.link.out;
    const excess = out.excess(frame);
    if (excess > 0) throw new MessageTooLarge(excess, out.peerMaxFrameSize, `notification ${method}`);
    out.write(frame);
    this.notified++;
  }

  /** A RESULT; false when no call of ours has that id (it may be a stream's). */
  onResult(id: number, value: unknown): boolean {
    const call = this.settle(id);
    if (call === undefined) return false;
    call.resolve(value);
    this.link.settled();
    return true;
  }

  /** An ERROR; false when no call of ours has that id. */
  onError(id: number, status: number, body: ErrorBody): boolean {
    const call = this.settle(id);
    if (call === undefined) return false;
    this.failed++;
    call.reject(errorFromBody(status, body));
    this.link.settled();
    return true;
  }

  expire(call: OutgoingCall): void {
    this.end(call, new DeadlineExceeded(`call ${call.id} exceeded its deadline`));
  }

  abort(call: OutgoingCall): void {
    this.end(call, new CallCancelled('call cancelled', { cause: call.signal?.reason }));
  }

  /** The connection is gone: every call fails with `error`. */
  failAll(error: unknown): void {
    if (this.table.size === 0) return;
    const calls = this.table.values();
    this.failed += calls.length;
    this.table.clear();
    for (const call of calls) {
      call.signal?.removeEventListener('abort', call);
      call.reject(error);
    }
  }

  /** Give up on a call here and tell the peer (CANCEL). */
  private end(call: OutgoingCall, error: unknown): void {
    if (this.table.get(call.id) !== call) return;
    this.settle(call.id);
    this.failed++;
    const cancel = this.link.frames.cancel(call.id);
    if (cancel !== null) this.link.out.write(cancel);
    call.reject(error);
    this.link.settled();
  }

  /** Take a call out of every table; undefined if it already finished (a late answer). */
  private settle(id: number): OutgoingCall | undefined {
    const call = this.table.get(id);
    if (call === undefined) return undefined;
    this.table.delete(id);
    if (call.heapIndex >= 0) this.link.deadlines.remove(call);
    call.signal?.removeEventListener('abort', call);
    return call;
  }
}
