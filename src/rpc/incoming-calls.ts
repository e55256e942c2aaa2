/**
 * Calls the peer makes to us: admission (id reuse, shutdown, the concurrency limit and
 * what happens to a peer that keeps calling past it), running the handler, its deadline
 * and cancellation, and the RESULT or ERROR it ends with. Notifications too: no answer,
 * but a bound on how many run at once.
 */
import { DeadlineExceeded, LimitExceeded, ProtocolError, RemoteError, type TransportError } from '../errors.js';
import { Status } from '../status.js';
import type { ErrorBody } from '../wire/native.js';
import { CallTable } from './call-table.js';
import type { CallContext, Caller, Contract, PeerInfo } from './contract.js';
import { cancelReason, deadlineFromWire } from './deadline.js';
import { deadlineBody, errorFrame, errorToBody, notFoundBody } from './error-body.js';
import type { Frames } from './frames.js';
import type { Outbox } from './outbox.js';
import { HandlerSignal } from './handler-signal.js';
import { RefusalMeter } from './refusal-meter.js';
import type { HandlerRegistry } from './handlers.js';
import type { TimerQueue, Timed } from './timer-queue.js';
import { isThenable } from '../util/is-thenable.js';
import { callTracing, statusOf, traceAnswered, traceContext, traceEnd, traceRefused, traceStart, type TraceContext } from './tracing.js';

/** What incoming calls need from their connection. */
export interface IncomingLink {
  readonly out: Outbox;
  readonly frames: Frames;
  readonly deadlines: TimerQueue;
  readonly registry: HandlerRegistry;
  /** The connection, as handlers see it (`ctx.connection`). */
  readonly caller: Caller<Contract>;
  /** Set once the handshake is done, before any call can arrive. */
  readonly peer: PeerInfo | undefined;
  /** CONNECTED: new calls are taken (CLOSING refuses them). */
  readonly accepting: boolean;
  /** Streams the peer runs here (they count against the same limit). */
  readonly peerStreams: number;
  hasPeerStream(id: number): boolean;
  /** Aborts when the connection ends (notifications' `ctx.signal`). */
  closeSignal(): AbortSignal;
  /** A call finished: a closing connection may be drained now. */
  settled(): void;
  cut(error: TransportError, tellPeer: boolean): void;
  /** Too many notification handlers running: stop reading (true) or go on (false). */
  throttleNotifications(on: boolean): void;
  notified(method: string, params: unknown): void;
  handlerFailed(error: unknown, method: string): void;
}

export interface IncomingLimits {
  readonly maxConcurrentCalls: number;
  readonly maxRefusedPerSecond: number;
  readonly exposeStack: boolean;
}

/** One call the peer made that we are handling; it is also the handler's `ctx`. */
class IncomingCall extends HandlerSignal implements Timed, CallContext<Contract> {
  dueAt = 0;
  heapIndex = -1;
  done = false;
  /** Set while `wirecall:call` has subscribers (tracing.ts). */
  trace: TraceContext | undefined = undefined;

  constructor(
    private readonly calls: IncomingCalls,
    readonly id: number,
    readonly method: string,
    readonly deadline: number | undefined,
    readonly isNotification: boolean,
  ) {
    super();
  }

  get connection(): Caller<Contract> {
    return this.calls.link.caller;
  }

  override get signal(): AbortSignal {
    return this.isNotification ? this.calls.link.closeSignal() : super.signal;
  }

  get peer(): PeerInfo {
    return this.calls.link.peer!;
  }

  abort(reason: unknown): void {
    this.done = true;
    this.abortSignal(reason);
  }

  /** Deadline reached (TimerQueue). */
  fire(): void {
    this.calls.expire(this);
  }
}

export class IncomingCalls {
  private readonly table = new CallTable<IncomingCall>();
  private readonly refusals: RefusalMeter;
  /** Notification handlers still running (they returned a promise). */
  private activeNotifications = 0;
  /** The RESOURCE_EXHAUSTED bodies, made once: a flood is refused a thousand times a second. */
  private callRefusal: ErrorBody | undefined = undefined;
  private streamRefusal: ErrorBody | undefined = undefined;
  /** CALLs and NOTIFYs the peer sent (refused calls too), and ERROR answers sent (calls and streams). */
  received = 0;
  notifications = 0;
  errorsSent = 0;

  constructor(
    readonly link: IncomingLink,
    private readonly limits: IncomingLimits,
  ) {
    this.refusals = new RefusalMeter(limits.maxRefusedPerSecond);
  }

  get size(): number {
    return this.table.size;
  }

  has(id: number): boolean {
    return this.table.has(id);
  }

  /**
   * May the peer start call or stream `id` now? If not, it has been answered (or, for a
   * reused id or a flood, the connection cut) and the caller does nothing more.
   */
  admit(id: number, what: 'call' | 'stream'): boolean {
    const link = this.link;
    if (this.table.has(id) || link.hasPeerStream(id)) {
      const message = what === 'call' ? `peer reused call id ${id} while that call was still running` : `peer reused id ${id} while that call or stream was still running`;
      link.cut(new ProtocolError(message), true);
      return false;
    }
    if (!link.accepting) {
      this.sendError(id, Status.UNAVAILABLE, { name: 'Unavailable', message: 'connection is shutting down' });
      return false;
    }
    const { maxConcurrentCalls, maxRefusedPerSecond } = this.limits;
    if (this.table.size + link.peerStreams < maxConcurrentCalls) return true;
    if (this.refusals.note(Date.now())) {
      link.cut(
        new LimitExceeded(
          `peer kept calling past the concurrency limit (${maxConcurrentCalls}): over ${maxRefusedPerSecond} refusals within a second (maxRefusedPerSecond)`,
        ),
        true,
      );
      return false;
    }
    const body =
      what === 'call'
        ? (this.callRefusal ??= refusal('calls', maxConcurrentCalls))
        : (this.streamRefusal ??= refusal('calls and streams', maxConcurrentCalls));
    this.sendError(id, Status.RESOURCE_EXHAUSTED, body);
    return false;
  }

  /** A CALL. */
  onCall(id: number, method: string, params: unknown, timeoutMs: number | null): void {
    this.received++;
    if (!this.admit(id, 'call')) return;
    const entry = this.link.registry.get(method);
    if (entry === undefined || entry.kind !== 'unary') {
      const body = notFoundBody(method, entry?.kind, 'unary');
      this.sendError(id, Status.METHOD_NOT_FOUND, body);
      if (callTracing.hasSubscribers) traceRefused('unary', method, id, this.link.caller, params, Status.METHOD_NOT_FOUND, new RemoteError(Status.METHOD_NOT_FOUND, body.message, { remoteName: body.name }));
      return;
    }
    const handler = entry.handler;
    const deadline = deadlineFromWire(timeoutMs);
    const call = new IncomingCall(this, id, method, deadline, false);
    this.table.set(id, call);
    if (deadline !== undefined) {
      call.dueAt = deadline;
      this.link.deadlines.add(call);
    }
    let result: unknown;
    try {
      if (callTracing.hasSubscribers) {
        const ctx = (call.trace = traceContext('server', 'unary', method, id, this.link.caller, params));
        result = traceStart(ctx, () => handler(params, call));
      } else {
        result = handler(params, call);
      }
    } catch (err) {
      this.fail(call, err);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => this.complete(call, value),
        (err: unknown) => this.fail(call, err),
      );
    } else {
      this.complete(call, result);
    }
  }

  /** A CANCEL for one of our calls; false when none has that id (it may be a stream's). */
  onCancel(id: number): boolean {
    const call = this.table.get(id);
    if (call === undefined) return false;
    this.forget(call);
    const reason = cancelReason(call.dueAt, call.method);
    if (call.trace !== undefined) traceEnd(call.trace, true, reason, reason.status);
    call.abort(reason);
    this.link.settled();
    return true;
  }

  /** A NOTIFY: every notification is emitted; a registered unary handler also runs. */
  onNotify(method: string, params: unknown): void {
    const link = this.link;
    this.notifications++;
    link.notified(method, params);
    const entry = link.registry.get(method);
    if (entry === undefined || entry.kind !== 'unary') return;
    const ctx = new IncomingCall(this, 0, method, undefined, true);
    let result: unknown;
    try {
      result = entry.handler(params, ctx);
    } catch (err) {
      link.handlerFailed(err, method);
      return;
    }
    if (!isThenable(result)) return;
    // Notifications have no reply to refuse, so too many running handlers slow the
    // reader down instead: nothing is dropped and memory stays bounded.
    const max = this.limits.maxConcurrentCalls;
    if (++this.activeNotifications === max) link.throttleNotifications(true);
    const done = (): void => {
      if (this.activeNotifications-- === max) link.throttleNotifications(false);
    };
    result.then(done, (err: unknown) => {
      done();
      link.handlerFailed(err, method);
    });
  }

  expire(call: IncomingCall): void {
    if (call.done) return;
    this.forget(call);
    const reason = new DeadlineExceeded(`deadline of ${call.method} passed`);
    if (call.trace !== undefined) traceEnd(call.trace, true, reason, Status.DEADLINE_EXCEEDED);
    call.abort(reason);
    this.sendError(call.id, Status.DEADLINE_EXCEEDED, deadlineBody(call.method));
    this.link.settled();
  }

  /** The connection is gone: every handler's signal aborts with `error`. */
  abortAll(error: unknown): void {
    if (this.table.size === 0) return;
    const calls = this.table.values();
    this.table.clear();
    for (const call of calls) {
      if (call.trace !== undefined) traceEnd(call.trace, true, error, statusOf(error));
      call.abort(error);
    }
  }

  /** Answer `id` with `value`; a result too big or not encodable becomes an ERROR. Returns the status sent. */
  sendResult(id: number, method: string, value: unknown): number {
    let frame: Buffer;
    try {
      frame = this.link.frames.result(id, value);
    } catch (err) {
      this.sendError(id, Status.SERVER_ERROR, { name: 'EncodeError', message: `result of ${method} cannot be encoded: ${(err as Error).message}` });
      return Status.SERVER_ERROR;
    }
    const out = this.link.out;
    const excess = out.excess(frame);
    if (excess > 0) {
      this.sendError(id, Status.RESOURCE_EXHAUSTED, {
        name: 'FrameTooLarge',
        message: `result of ${method} is ${excess} bytes, over the caller's limit of ${out.peerMaxFrameSize}`,
      });
      return Status.RESOURCE_EXHAUSTED;
    }
    out.write(frame);
    return Status.OK;
  }

  /** Answer `id` with a handler's failure; returns the status sent. */
  sendFailure(id: number, error: unknown): number {
    const [status, body] = errorToBody(error, this.limits.exposeStack);
    this.sendError(id, status, body);
    return status;
  }

  sendError(id: number, status: number, body: ErrorBody): void {
    this.errorsSent++;
    const out = this.link.out;
    out.write(errorFrame(this.link.frames, id, status, body, out.peerMaxFrameSize));
  }

  private complete(call: IncomingCall, value: unknown): void {
    if (call.done) return; // cancelled, expired, or the connection went away: drop quietly
    this.forget(call);
    const status = this.sendResult(call.id, call.method, value);
    if (call.trace !== undefined) traceAnswered(call.trace, value, status);
    this.link.settled();
  }

  private fail(call: IncomingCall, err: unknown): void {
    if (call.done) return;
    this.forget(call);
    const status = this.sendFailure(call.id, err);
    if (call.trace !== undefined) traceEnd(call.trace, true, err, status);
    this.link.settled();
  }

  private forget(call: IncomingCall): void {
    call.done = true;
    this.table.delete(call.id);
    if (call.heapIndex >= 0) this.link.deadlines.remove(call);
  }
}

function refusal(what: string, limit: number): ErrorBody {
  return { name: 'ResourceExhausted', message: `too many concurrent ${what} (limit ${limit})` };
}
