/**
 * The streams of one connection, both directions: opening ours, admitting the peer's,
 * routing every stream frame to its stream by id, and the links streams write through.
 * One id space per direction is shared with calls (the connection's `allocateId`).
 */
import { CallCancelled, InvalidArgument, MessageTooLarge, ProtocolError, RemoteError, type TransportError } from '../errors.js';
import { Status } from '../status.js';
import { encodeStreamOpen } from '../wire/encode.js';
import { DEFAULT_STREAM_WINDOW, StreamKind, type ErrorBody } from '../wire/native.js';
import { CallTable } from './call-table.js';
import type { Caller, Contract, StreamOptions } from './contract.js';
import { callDeadline, cancelReason, deadlineFromWire } from './deadline.js';
import { deadlineBody, errorFromBody, notFoundBody } from './error-body.js';
import { GrowthBudget, type Window } from './flow.js';
import type { IncomingCalls } from './incoming-calls.js';
import { streamWindowFor, type ResolvedOptions } from './options.js';
import type { Outbox } from './outbox.js';
import type { MethodKind, HandlerRegistry } from './handlers.js';
import { IncomingStream, OutgoingStream, failedStream, type CallerLink, type Delivery, type HandlerLink, type StreamHandler } from './stream.js';
import type { TimerQueue } from './timer-queue.js';
import { streamTracing, traceContext, traceRefused, traceStart } from './tracing.js';

/** What the streams need from their connection. */
export interface StreamsLink {
  readonly out: Outbox;
  readonly deadlines: TimerQueue;
  readonly registry: HandlerRegistry;
  readonly caller: Caller<Contract>;
  /** Calls of the peer: admission (shared limit) and the answers streams end with. */
  readonly calls: IncomingCalls;
  allocateId(): number;
  settled(): void;
  cut(error: TransportError, tellPeer: boolean): void;
}

export class Streams {
  /** Streams we opened, by our id. */
  private readonly ours = new CallTable<OutgoingStream>();
  /** Streams the peer opened, by its id. */
  private readonly peers = new CallTable<IncomingStream>();
  /** The credit the peer grants our streams (from its handshake). */
  peerWindow: Window = { ...DEFAULT_STREAM_WINDOW };
  private readonly growth: GrowthBudget;
  private readonly callerLink: CallerLink;
  private readonly handlerLink: HandlerLink;
  /** STREAM_OPENs sent, and received (refused ones too). */
  opened = 0;
  accepted = 0;

  constructor(
    private readonly link: StreamsLink,
    private readonly options: ResolvedOptions,
  ) {
    this.growth = new GrowthBudget(options.maxStreamWindowGrowth);
    const out = link.out;
    this.callerLink = {
      write: (frame) => out.write(frame),
      writeNow: (frame) => out.writeNow(frame),
      get peerMaxFrameSize() {
        return out.peerMaxFrameSize;
      },
      whenWritable: () => out.whenWritable(),
      finished: (stream) => this.forgetOurs(stream),
    };
    const calls = link.calls;
    this.handlerLink = {
      write: (frame) => out.write(frame),
      writeNow: (frame) => out.writeNow(frame),
      get peerMaxFrameSize() {
        return out.peerMaxFrameSize;
      },
      whenWritable: () => out.whenWritable(),
      finished: (stream) => this.forgetPeers(stream),
      sendResult: (id, method, value) => calls.sendResult(id, method, value),
      sendFailure: (id, error) => calls.sendFailure(id, error),
      sendDeadline: (id, method) => calls.sendError(id, Status.DEADLINE_EXCEEDED, deadlineBody(method)),
    };
  }

  /** Streams open, both directions. */
  get size(): number {
    return this.ours.size + this.peers.size;
  }

  get peerCount(): number {
    return this.peers.size;
  }

  /** Streams of ours still open. */
  get hasAnyOurs(): boolean {
    return this.ours.size > 0;
  }

  hasOurs(id: number): boolean {
    return this.ours.has(id);
  }

  hasPeers(id: number): boolean {
    return this.peers.has(id);
  }

  /** Open a stream of ours (the connection checked it is open). */
  open(kind: StreamKind, method: string, params: unknown, options: StreamOptions | undefined): OutgoingStream {
    const signal = options?.signal;
    if (signal?.aborted) return failedStream(method, kind, new CallCancelled('stream cancelled before it was opened', { cause: signal.reason }));
    let window: Window;
    let deadline;
    try {
      deadline = callDeadline(options, this.options.defaultTimeout);
      window = streamWindowFor(this.options.streamWindow, options?.window);
    } catch (err) {
      return failedStream(method, kind, err);
    }
    const id = this.link.allocateId();
    let frame: Buffer;
    try {
      frame = encodeStreamOpen(id, method, params, deadline === undefined ? null : deadline.wireMs, kind, window);
    } catch (err) {
      return failedStream(method, kind, new InvalidArgument(`params for ${method} cannot be encoded: ${(err as Error).message}`, { cause: err }));
    }
    const out = this.link.out;
    const excess = out.excess(frame);
    if (excess > 0) return failedStream(method, kind, new MessageTooLarge(excess, out.peerMaxFrameSize, `stream open of ${method}`));
    // The connection's window grows; one chosen for this stream stays as chosen.
    const limit = options?.window !== undefined ? window : this.options.maxStreamWindow;
    const stream = new OutgoingStream(this.callerLink, id, kind, method, window, this.peerWindow, limit, this.growth);
    this.ours.set(id, stream);
    out.write(frame);
    this.opened++;
    if (deadline !== undefined) {
      stream.dueAt = deadline.at;
      this.link.deadlines.add(stream);
    }
    if (signal !== undefined) {
      stream.signal = signal;
      signal.addEventListener('abort', stream, { once: true });
    }
    return stream;
  }

  /** A STREAM_OPEN from the peer. */
  onOpen(id: number, method: string, params: unknown, timeoutMs: number | null, kind: StreamKind, callerWindow: Window): void {
    const calls = this.link.calls;
    this.accepted++;
    if (!calls.admit(id, 'stream')) return;
    const wanted: MethodKind = kind === StreamKind.SERVER ? 'server-stream' : kind === StreamKind.CLIENT ? 'client-stream' : 'bidi-stream';
    const entry = this.link.registry.get(method);
    if (entry === undefined || entry.kind !== wanted) {
      const body = notFoundBody(method, entry?.kind, wanted);
      calls.sendError(id, Status.METHOD_NOT_FOUND, body);
      if (streamTracing.hasSubscribers) traceRefused(wanted, method, id, this.link.caller, params, Status.METHOD_NOT_FOUND, new RemoteError(Status.METHOD_NOT_FOUND, body.message, { remoteName: body.name }));
      return;
    }
    const deadline = deadlineFromWire(timeoutMs);
    const o = this.options;
    const stream = new IncomingStream(this.link.caller, this.handlerLink, id, method, kind, deadline, callerWindow, o.streamWindow, o.maxStreamWindow, this.growth);
    this.peers.set(id, stream);
    if (deadline !== undefined) {
      stream.dueAt = deadline;
      this.link.deadlines.add(stream);
    }
    if (streamTracing.hasSubscribers) {
      const ctx = (stream.trace = traceContext('server', wanted, method, id, this.link.caller, params));
      traceStart(ctx, () => stream.start(entry.handler as StreamHandler, params));
    } else {
      stream.start(entry.handler as StreamHandler, params);
    }
  }

  // Unknown ids are streams that already ended here: their late frames are dropped.

  onCallerMessage(id: number, value: unknown, size: number): void {
    const stream = this.peers.get(id);
    if (stream !== undefined) this.checkDelivery(id, 'CALLER_MESSAGE', stream.onMessage(value, size));
  }

  onHandlerMessage(id: number, value: unknown, size: number): void {
    const stream = this.ours.get(id);
    if (stream !== undefined) this.checkDelivery(id, 'HANDLER_MESSAGE', stream.onMessage(value, size));
  }

  onCallerEnd(id: number): void {
    this.peers.get(id)?.onEnd();
  }

  onCallerCredit(id: number, messages: number, bytes: number): void {
    this.peers.get(id)?.onCredit(messages, bytes);
  }

  onHandlerCredit(id: number, messages: number, bytes: number): void {
    this.ours.get(id)?.onCredit(messages, bytes);
  }

  onResult(id: number, value: unknown): void {
    this.ours.get(id)?.onResult(value);
  }

  onError(id: number, status: number, body: ErrorBody): void {
    this.ours.get(id)?.onError(errorFromBody(status, body));
  }

  onCancel(id: number): void {
    const stream = this.peers.get(id);
    stream?.abort(cancelReason(stream.dueAt, stream.method));
  }

  /** The connection is gone: every stream ends with `error`. */
  failAll(error: unknown): void {
    if (this.ours.size > 0) {
      const streams = this.ours.values();
      this.ours.clear();
      for (const stream of streams) stream.lost(error);
    }
    if (this.peers.size > 0) {
      const streams = this.peers.values();
      this.peers.clear();
      for (const stream of streams) stream.abort(error);
    }
  }

  private forgetOurs(stream: OutgoingStream): void {
    if (this.ours.get(stream.id) !== stream) return;
    this.ours.delete(stream.id);
    if (stream.heapIndex >= 0) this.link.deadlines.remove(stream);
    this.link.settled();
  }

  private forgetPeers(stream: IncomingStream): void {
    if (this.peers.get(stream.id) !== stream) return;
    this.peers.delete(stream.id);
    if (stream.heapIndex >= 0) this.link.deadlines.remove(stream);
    this.link.settled();
  }

  /**
   * A stream message the stream could not take is fatal: a peer that ignores credit
   * would have us buffer without bound, and one that sends against the stream's kind
   * does not follow the protocol.
   */
  private checkDelivery(id: number, type: string, delivery: Delivery): void {
    if (delivery === 'ok') return;
    const why =
      delivery === 'no-credit'
        ? `peer sent a message on stream ${id} beyond the credit it was granted`
        : `peer sent ${type} on stream ${id}, whose kind carries no messages in that direction`;
    this.link.cut(new ProtocolError(why), true);
  }
}
