import { randomUUID, timingSafeEqual, createHash } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import {
  CallCancelled,
  ConnectionClosed,
  ConnectionLost,
  DeadlineExceeded,
  FrameTooLarge,
  HandshakeRejected,
  HandshakeTimeout,
  InvalidArgument,
  LimitExceeded,
  ProtocolError,
  RemoteError,
  TransportError,
  WirecallError,
} from '../errors.js';
import { Status } from '../status.js';
import { DEFAULT_MAX_FRAME_SIZE, FrameDecoder, HEADER_SIZE } from '../wire/frame-decoder.js';
import { FrameWriter } from '../wire/frame-writer.js';
import { packFrame } from '../wire/msgpack.js';
import { DEFAULT_MAX_MESSAGE_DEPTH, DEFAULT_MAX_MESSAGE_ELEMENTS } from '../wire/msgpack-guard.js';
import {
  MAX_CALL_ID,
  MessageType,
  PROTOCOL_NAME,
  RejectReason,
  SUPPORTED_VERSIONS,
  DEFAULT_STREAM_WINDOW,
  StreamKind,
  nativeDialect,
  type ErrorBody,
  type Hello,
  type NativeMessage,
  type Welcome,
} from '../wire/native.js';
import type { CallContext, PeerInfo } from './call-context.js';
import type {
  AnyHandler,
  CallArgs,
  CallOptions,
  Contract,
  BidiStreamHandler,
  ClientStreamHandler,
  Handler,
  MethodName,
  NotifyArgs,
  ParamsOf,
  ResultOf,
  ServerStreamHandler,
  StreamArgs,
  StreamIn,
  StreamOut,
  StreamParams,
} from './contract.js';
import { DEFAULT_MAX_STREAM_WINDOW_BYTES, DEFAULT_MAX_STREAM_WINDOW_GROWTH, GrowthBudget, type Window } from './flow.js';
import { CallTable } from './call-table.js';
import { HandlerRegistry, type MethodKind } from './registry.js';
import { RefusalMeter } from './refusal-meter.js';
import {
  IncomingStream,
  OutgoingStream,
  failedStream,
  type BidiStream,
  type CallerLink,
  type ClientStream,
  type Delivery,
  type HandlerLink,
  type ServerStream,
  type StreamHandler,
  type StreamOptions,
} from './stream.js';
import { TimerQueue, type Timed } from './timer-queue.js';

/** NEW → PENDING (handshake) → CONNECTED → CLOSING (draining) → CLOSED. */
export type ConnectionState = 'new' | 'pending' | 'connected' | 'closing' | 'closed';

export interface ConnectionOptions {
  /** Our name, announced in the handshake. Default `wirecall`. */
  name?: string;
  /** Our software version, announced in the handshake. */
  version?: string;
  /** Largest frame payload we accept, in bytes. Default 16 MiB. */
  maxFrameSize?: number;
  /** Ping interval in ms; the peer is dead after 3 intervals of silence. 0 disables. Default 5000. */
  heartbeatInterval?: number;
  /** The handshake must finish within this many ms. Default 5000. */
  handshakeTimeout?: number;
  /**
   * A frame whose first bytes arrived must be complete within this many ms, or the peer
   * is cut (a peer that trickles a frame holds memory and a socket). Default 30 000.
   */
  frameTimeout?: number;
  /** `close()` lets in-flight calls finish for up to this many ms. Default 5000. */
  drainTimeout?: number;
  /** Incoming calls handled at once; beyond it callers get RESOURCE_EXHAUSTED. Default 1024. */
  maxConcurrentCalls?: number;
  /**
   * Calls and streams refused with RESOURCE_EXHAUSTED (the concurrency limit) within one
   * second before the peer, which keeps calling after being told, is cut. Default:
   * `maxConcurrentCalls`, at least 1000 (room for a burst that was on the wire before
   * the first refusal reached the caller).
   */
  maxRefusedPerSecond?: number;
  /** Send handler stack traces to the peer. Default false. */
  exposeStack?: boolean;
  /** Timeout applied to calls that set none, in ms. Default: none. */
  defaultTimeout?: number;
  /**
   * Outgoing bytes buffered (unsent: the peer is not reading) before we stop reading from
   * the peer and stream producers wait; both resume below half of it. Default 256 KiB.
   */
  highWaterMark?: number;
  /** Cut a peer whose unsent bytes stay over `highWaterMark` this long, in ms. Default 30 000. */
  slowPeerTimeout?: number;
  /**
   * Cut a peer at once when its unsent bytes pass this (replies of calls already running
   * can still add to them while reading is paused). Default 4 × `highWaterMark`.
   */
  maxWriteBuffer?: number;
  /**
   * Most MessagePack values one message may hold (every scalar, array, map, key and
   * value counts one), checked as the frame arrives, so decoding a frame costs what this
   * limit allows. A large `bin` or `str` is one value. Default 100 000 (see wire/msgpack-guard).
   */
  maxMessageElements?: number;
  /** Deepest nesting of arrays and maps in one message. Default 64. */
  maxMessageDepth?: number;
  /**
   * Credit each stream grants the peer for the messages it sends us: at most this many
   * messages and bytes per stream are in flight or buffered unread. Announced in the
   * handshake; a caller may choose another window per stream. Default 1024 messages, 256 KiB.
   */
  streamWindow?: Partial<Window>;
  /**
   * How far a stream's window may grow while its reader keeps up (it doubles at a grant
   * when the reader had to wait for a message). Default: `streamWindow`'s messages (the
   * message window does not grow: a larger one made small-message streams slower) and 4 MiB;
   * never below `streamWindow`. Set it to `streamWindow` for fixed windows. A window
   * passed to one stream (`stream(m, p, { window })`) stays fixed.
   */
  maxStreamWindow?: Partial<Window>;
  /**
   * Bytes by which the windows of all streams on this connection may grow together,
   * beyond their initial windows (see `maxStreamWindow`). Bounds what many streams can
   * buffer at once: at most this plus one initial window per stream. Default 16 MiB.
   */
  maxStreamWindowGrowth?: number;
  /**
   * Handlers for calls from the peer, registered before the handshake so that a call
   * arriving right behind it finds them. More can be added later with `register`.
   */
  handlers?: Record<string, AnyHandler>;
}

export interface ClientConnectionOptions extends ConnectionOptions {
  /** Sent in the handshake; the server may require it. */
  token?: string;
}

export interface ServerConnectionOptions extends ConnectionOptions {
  /** Require this token in the client's handshake. */
  token?: string;
  /** Decide on each handshake yourself; runs after the token check. */
  authenticate?: (hello: Readonly<Hello>, address: string) => boolean | Promise<boolean>;
  /** Handlers shared with other connections (the server's). */
  registry?: HandlerRegistry;
  /**
   * Told the outcome of the handshake's token and `authenticate` checks (the server's
   * throttle); returns how many ms to hold a refusal before sending it.
   */
  onAuthOutcome?: (passed: boolean) => number;
}

const DEFAULTS = {
  name: 'wirecall',
  version: '0',
  heartbeatInterval: 5000,
  // A local handshake takes about a millisecond; 5 s leaves room for a loaded machine
  // and a slow network without holding a silent socket for long.
  handshakeTimeout: 5000,
  frameTimeout: 30_000,
  drainTimeout: 5000,
  maxConcurrentCalls: 1024,
  highWaterMark: 256 * 1024,
  slowPeerTimeout: 30_000,
};

/** A handshake is small; refuse to buffer more than this before we know who is talking. */
const HANDSHAKE_FRAME_LIMIT = 64 * 1024;
/** After the final write of a close, wait this long for the peer to hang up. */
const LINGER_MS = 2000;

const PAUSE_WRITE_PRESSURE = 1;
const PAUSE_NOTIFICATIONS = 2;

const stateChannel = channel('wirecall:connection:state');
const errorChannel = channel('wirecall:connection:error');

type Role = 'client' | 'server';

/** One call we made that awaits its result. */
class OutgoingCall implements Timed {
  dueAt = 0;
  heapIndex = -1;
  signal: AbortSignal | undefined = undefined;

  constructor(
    readonly connection: Connection<Contract>,
    readonly id: number,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: unknown) => void,
  ) {}

  /** Deadline reached. */
  fire(): void {
    this.connection['expireOutgoing'](this);
  }

  /** AbortSignal listener; an object listener costs no closure per call. */
  handleEvent(): void {
    this.connection['abortOutgoing'](this);
  }
}

/** One call the peer made that we are handling; it is also the handler's `ctx`. */
class IncomingCall implements Timed, CallContext<Contract> {
  dueAt = 0;
  heapIndex = -1;
  done = false;
  private controller: AbortController | undefined = undefined;

  constructor(
    readonly connection: Connection<Contract>,
    readonly id: number,
    readonly method: string,
    readonly deadline: number | undefined,
    readonly isNotification: boolean,
  ) {}

  get signal(): AbortSignal {
    if (this.isNotification) return this.connection['closeSignal']();
    // Created on first use: most handlers never look at it.
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  get peer(): PeerInfo {
    return this.connection.peer!;
  }

  abort(reason: unknown): void {
    this.done = true;
    // Created here if the handler has not looked yet: it may look later (after an await).
    (this.controller ??= new AbortController()).abort(reason);
  }

  fire(): void {
    this.connection['expireIncoming'](this);
  }
}

export interface ConnectionEvents {
  state: [state: ConnectionState, previous: ConnectionState];
  /** Emitted once, when the connection is CLOSED; `error` is set unless it closed cleanly. */
  close: [error: TransportError | undefined];
  /** Every notification from the peer, handled or not. */
  notification: [method: string, params: unknown];
  /** A notification handler threw or rejected. */
  handlerError: [error: unknown, method: string];
}

/**
 * One framed, bidirectional RPC connection over any byte stream. Both peers can call
 * each other; which side dialled only matters for the handshake.
 *
 * Hot path: integer call ids in a Map, one Promise per call, frames coalesced per
 * tick by FrameWriter, deadlines in one TimerQueue (no timer per call).
 */
export class Connection<Remote = Contract, Local = Contract> extends EventEmitter<ConnectionEvents> {
  /** Available once CONNECTED. */
  peer: PeerInfo | undefined = undefined;
  /** Handlers the peer can call on this connection (falls back to the server's). */
  readonly registry: HandlerRegistry;
  /** Resolves when the handshake is done; rejects with the reason it failed. */
  readonly ready: Promise<this>;

  private _state: ConnectionState = 'new';
  private readonly role: Role;
  private readonly socket: Duplex;
  private readonly address: string;
  private readonly options: Required<
    Omit<
      ServerConnectionOptions,
      | 'token'
      | 'authenticate'
      | 'registry'
      | 'defaultTimeout'
      | 'handlers'
      | 'streamWindow'
      | 'maxStreamWindow'
      | 'maxStreamWindowGrowth'
      | 'maxMessageElements'
      | 'maxMessageDepth'
      | 'onAuthOutcome'
    >
  > &
    ServerConnectionOptions;
  private readonly decoder: FrameDecoder;
  private readonly writer: FrameWriter;
  private readonly pending = new CallTable<OutgoingCall>();
  private readonly incoming = new CallTable<IncomingCall>();
  /** Streams we opened, by our id (shared with `pending`: one id space per direction). */
  private readonly outgoingStreams = new CallTable<OutgoingStream>();
  /** Streams the peer opened, by its id. */
  private readonly incomingStreams = new CallTable<IncomingStream>();
  /** Credit we grant per stream, and what the peer grants us (from its handshake). */
  private readonly streamWindow: Window;
  private readonly maxStreamWindow: Window;
  private readonly windowGrowth: GrowthBudget;
  private peerStreamWindow: Window = { ...DEFAULT_STREAM_WINDOW };
  private readonly callerLink: CallerLink;
  private readonly handlerLink: HandlerLink;
  private readonly deadlines = new TimerQueue();
  private nextId = 0;
  private peerMaxFrameSize = HANDSHAKE_FRAME_LIMIT;
  private readyResolve!: (c: this) => void;
  private readyReject!: (e: unknown) => void;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** Armed while our writes are over the high-water mark (see slowPeerTimeout). */
  private slowPeerTimer: NodeJS.Timeout | undefined;
  /** Armed while a frame is partly received (see frameTimeout). */
  private frameTimer: NodeJS.Timeout | undefined;
  /** When the frame now partly received began to arrive. */
  private partialSince = 0;
  /** Frames received so far (tells a frame still arriving from the next one). */
  private framesIn = 0;
  private readonly refusals: RefusalMeter;
  /** Resolves when our writes fall back under the high-water mark; shared by every waiting producer. */
  private writableGate: Promise<void> | undefined;
  private openWritableGate: (() => void) | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private helloSeen = false;
  /** Payload size of the frame being dispatched (stream credit is counted in these bytes). */
  private frameSize = 0;
  /** When bytes last arrived from the peer. */
  private lastHeard = Date.now();
  /** Why reading from the socket is paused: a bit per reason (see PAUSE_*). */
  private pausedFor = 0;
  /** Notification handlers still running (they returned a promise). */
  private activeNotifications = 0;
  private pingNonce = 0;
  private readonly pings = new Map<number, { start: number; resolve: (ms: number) => void; reject: (e: unknown) => void }>();
  private closeController: AbortController | undefined;
  private closeError: TransportError | undefined;
  private closePromise: Promise<void> | undefined;
  private socketError: Error | undefined;
  private peerShutdownReason: string | undefined;

  private constructor(role: Role, socket: Duplex, address: string, options: ServerConnectionOptions & ClientConnectionOptions) {
    super();
    this.role = role;
    this.socket = socket;
    this.address = address;
    this.options = {
      ...options,
      name: options.name ?? DEFAULTS.name,
      version: options.version ?? DEFAULTS.version,
      maxFrameSize: options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
      heartbeatInterval: options.heartbeatInterval ?? DEFAULTS.heartbeatInterval,
      handshakeTimeout: options.handshakeTimeout ?? DEFAULTS.handshakeTimeout,
      drainTimeout: options.drainTimeout ?? DEFAULTS.drainTimeout,
      maxConcurrentCalls: options.maxConcurrentCalls ?? DEFAULTS.maxConcurrentCalls,
      exposeStack: options.exposeStack ?? false,
      highWaterMark: options.highWaterMark ?? DEFAULTS.highWaterMark,
      frameTimeout: options.frameTimeout ?? DEFAULTS.frameTimeout,
      slowPeerTimeout: options.slowPeerTimeout ?? DEFAULTS.slowPeerTimeout,
      maxWriteBuffer: options.maxWriteBuffer ?? 4 * (options.highWaterMark ?? DEFAULTS.highWaterMark),
      maxRefusedPerSecond: options.maxRefusedPerSecond ?? Math.max(1000, options.maxConcurrentCalls ?? DEFAULTS.maxConcurrentCalls),
    };
    this.refusals = new RefusalMeter(this.options.maxRefusedPerSecond);
    this.streamWindow = checkWindow(
      { ...DEFAULT_STREAM_WINDOW, ...definedOnly(options.streamWindow) },
      'streamWindow',
    );
    // By default the message window stays as announced; only the bytes grow. (A limit
    // below the window means no growth: InboundQueue never shrinks a window.)
    this.maxStreamWindow = checkWindow(
      { messages: this.streamWindow.messages, bytes: DEFAULT_MAX_STREAM_WINDOW_BYTES, ...definedOnly(options.maxStreamWindow) },
      'maxStreamWindow',
    );
    const growth = options.maxStreamWindowGrowth ?? DEFAULT_MAX_STREAM_WINDOW_GROWTH;
    if (!Number.isInteger(growth) || growth < 0) {
      throw new InvalidArgument(`maxStreamWindowGrowth must be an integer >= 0, got ${growth}`);
    }
    this.windowGrowth = new GrowthBudget(growth);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    const whenWritable = (): Promise<void> | undefined => this.whenWritable();
    this.callerLink = {
      write: (frame) => this.writer.write(frame),
      writeNow: (frame) => this.writer.writeNow(frame),
      get peerMaxFrameSize() {
        return self.peerMaxFrameSize;
      },
      whenWritable,
      finished: (stream) => this.forgetOutgoingStream(stream),
    };
    this.handlerLink = {
      write: (frame) => this.writer.write(frame),
      writeNow: (frame) => this.writer.writeNow(frame),
      get peerMaxFrameSize() {
        return self.peerMaxFrameSize;
      },
      whenWritable,
      finished: (stream) => this.forgetIncomingStream(stream),
      sendResult: (id, method, value) => this.sendResult(id, method, value),
      sendFailure: (id, error) => {
        const [status, body] = errorToBody(error, this.options.exposeStack);
        this.sendError(id, status, body);
      },
      sendDeadline: (id, method) =>
        this.sendError(id, Status.DEADLINE_EXCEEDED, { name: 'DeadlineExceeded', message: `deadline of ${method} passed` }),
    };
    this.registry = new HandlerRegistry(options.registry);
    for (const [method, handler] of Object.entries(options.handlers ?? {})) this.registry.register(method, handler);
    this.ready = new Promise<this>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    // Nobody may be awaiting `ready` (a server-side connection, say); failures also
    // surface as the 'close' event.
    this.ready.catch(() => {});
    this.decoder = new FrameDecoder(this.onFrame, {
      maxFrameSize: Math.min(HANDSHAKE_FRAME_LIMIT, this.options.maxFrameSize),
      maxMessageElements: options.maxMessageElements ?? DEFAULT_MAX_MESSAGE_ELEMENTS,
      maxMessageDepth: options.maxMessageDepth ?? DEFAULT_MAX_MESSAGE_DEPTH,
    });
    this.writer = new FrameWriter(socket as Duplex & { writableNeedDrain: boolean }, {
      highWaterMark: this.options.highWaterMark,
      onPressure: this.onWritePressure,
      hardLimit: this.options.maxWriteBuffer,
      onOverflow: this.onWriteOverflow,
    });
    socket.on('data', this.onData);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
  }

  /** Start the client side of a connection over an open socket; resolves once CONNECTED. */
  static client<Remote = Contract, Local = Contract>(
    socket: Duplex,
    options: ClientConnectionOptions & { address?: string } = {},
  ): Promise<Connection<Remote, Local>> {
    const c = new Connection<Remote, Local>('client', socket, options.address ?? 'unknown', options);
    c.start();
    return c.ready;
  }

  /** Start the server side over an accepted socket. Returns at once; await `ready`. */
  static server<Remote = Contract, Local = Contract>(
    socket: Duplex,
    options: ServerConnectionOptions & { address?: string } = {},
  ): Connection<Remote, Local> {
    const c = new Connection<Remote, Local>('server', socket, options.address ?? 'unknown', options);
    c.start();
    return c;
  }

  get state(): ConnectionState {
    return this._state;
  }

  /** A server-side connection still waiting for the client's HELLO. */
  get awaitingHello(): boolean {
    return this.role === 'server' && this._state === 'pending' && !this.helloSeen;
  }

  /** Calls we made that have not finished. */
  get pendingCalls(): number {
    return this.pending.size;
  }

  /** Calls the peer made that we are still handling. */
  get activeCalls(): number {
    return this.incoming.size;
  }

  /** Streams open on this connection, in both directions. */
  get openStreams(): number {
    return this.outgoingStreams.size + this.incomingStreams.size;
  }

  // ---------------------------------------------------------------- public API

  /**
   * Call a method of the peer. Rejects with RemoteError (the peer answered with an
   * error), DeadlineExceeded, CallCancelled, or a TransportError if the connection fails.
   */
  call<M extends MethodName<Remote>>(method: M, ...args: CallArgs<Remote, M>): Promise<ResultOf<Remote, M>>;
  call(method: string, params?: unknown, options?: CallOptions): Promise<unknown> {
    if (this._state !== 'connected') return Promise.reject(this.notOpenError());
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(new CallCancelled('call cancelled before it was sent', { cause: signal.reason }));
    let timeout = options?.timeout ?? this.options.defaultTimeout;
    if (timeout !== undefined && !(timeout >= 0)) return Promise.reject(new InvalidArgument(`timeout must be >= 0 ms, got ${timeout}`));
    if (timeout === Infinity) timeout = undefined;
    const id = this.allocateId();
    let frame: Buffer;
    try {
      // The wire field is a uint32 (about 49 days); a longer timeout is sent as that.
      frame = packFrame([MessageType.CALL, id, method, params, timeout === undefined ? null : Math.min(MAX_CALL_ID, Math.ceil(timeout))]);
    } catch (err) {
      return Promise.reject(new InvalidArgument(`params for ${method} cannot be encoded: ${(err as Error).message}`, { cause: err }));
    }
    if (frame.length - HEADER_SIZE > this.peerMaxFrameSize) {
      return Promise.reject(new FrameTooLarge(frame.length - HEADER_SIZE, this.peerMaxFrameSize, 'outgoing'));
    }
    return new Promise((resolve, reject) => {
      const call = new OutgoingCall(this as unknown as Connection<Contract>, id, resolve, reject);
      this.pending.set(id, call);
      this.writer.write(frame);
      if (timeout !== undefined) {
        call.dueAt = Date.now() + timeout;
        this.deadlines.add(call);
      }
      if (signal !== undefined) {
        call.signal = signal;
        signal.addEventListener('abort', call, { once: true });
      }
    });
  }

  /**
   * Open a server stream: the peer's handler sends many messages, read them with
   * `for await`. Leaving the loop early, aborting the signal or passing the timeout
   * cancels the stream on both sides.
   */
  stream<M extends MethodName<Remote>>(
    method: M,
    ...args: StreamArgs<Remote, M, ParamsOf<Remote, M>>
  ): ServerStream<StreamOut<Remote, M>>;
  stream(method: string, params?: unknown, options?: StreamOptions): ServerStream<unknown> {
    return this.openStream(StreamKind.SERVER, method, params, options);
  }

  /** Open a client stream: write messages, `end()`, then await `result`. */
  clientStream<M extends MethodName<Remote>>(
    method: M,
    ...args: StreamArgs<Remote, M, StreamParams<Remote, M>>
  ): ClientStream<StreamIn<Remote, M>, ResultOf<Remote, M>>;
  clientStream(method: string, params?: unknown, options?: StreamOptions): ClientStream<unknown, unknown> {
    return this.openStream(StreamKind.CLIENT, method, params, options);
  }

  /** Open a bidirectional stream: write and `end()` like a client stream, iterate like a server stream. */
  bidiStream<M extends MethodName<Remote>>(
    method: M,
    ...args: StreamArgs<Remote, M, StreamParams<Remote, M>>
  ): BidiStream<StreamIn<Remote, M>, StreamOut<Remote, M>>;
  bidiStream(method: string, params?: unknown, options?: StreamOptions): BidiStream<unknown, unknown> {
    return this.openStream(StreamKind.BIDI, method, params, options);
  }

  private openStream(kind: StreamKind, method: string, params: unknown, options: StreamOptions | undefined): OutgoingStream {
    if (this._state !== 'connected') return failedStream(method, kind, this.notOpenError());
    const signal = options?.signal;
    if (signal?.aborted) return failedStream(method, kind, new CallCancelled('stream cancelled before it was opened', { cause: signal.reason }));
    let timeout = options?.timeout ?? this.options.defaultTimeout;
    if (timeout !== undefined && !(timeout >= 0)) return failedStream(method, kind, new InvalidArgument(`timeout must be >= 0 ms, got ${timeout}`));
    if (timeout === Infinity) timeout = undefined;
    let window: Window;
    // The connection's window grows; one chosen for this stream stays as chosen.
    const chosen = options?.window !== undefined;
    try {
      window = checkWindow({ ...this.streamWindow, ...definedOnly(options?.window) }, 'window');
    } catch (err) {
      return failedStream(method, kind, err);
    }
    const id = this.allocateId();
    let frame: Buffer;
    try {
      frame = packFrame([
        MessageType.STREAM_OPEN,
        id,
        method,
        params,
        timeout === undefined ? null : Math.min(MAX_CALL_ID, Math.ceil(timeout)),
        kind,
        window.messages,
        window.bytes,
      ]);
    } catch (err) {
      return failedStream(method, kind, new InvalidArgument(`params for ${method} cannot be encoded: ${(err as Error).message}`, { cause: err }));
    }
    if (frame.length - HEADER_SIZE > this.peerMaxFrameSize) {
      return failedStream(method, kind, new FrameTooLarge(frame.length - HEADER_SIZE, this.peerMaxFrameSize, 'outgoing'));
    }
    const stream = new OutgoingStream(this.callerLink, id, kind, method, window, this.peerStreamWindow, chosen ? window : this.maxStreamWindow, this.windowGrowth);
    this.outgoingStreams.set(id, stream);
    this.writer.write(frame);
    if (timeout !== undefined) {
      stream.dueAt = Date.now() + timeout;
      this.deadlines.add(stream);
    }
    if (signal !== undefined) {
      stream.signal = signal;
      signal.addEventListener('abort', stream, { once: true });
    }
    return stream;
  }

  /** Our next call or stream id: unique among those still running in this direction. */
  private allocateId(): number {
    let id = this.nextId;
    do id = id >= MAX_CALL_ID ? 1 : id + 1;
    while (this.pending.has(id) || this.outgoingStreams.has(id));
    this.nextId = id;
    return id;
  }

  /** Send a notification: no reply, no delivery guarantee beyond the socket's. */
  notify<M extends MethodName<Remote>>(method: M, ...args: NotifyArgs<Remote, M>): void;
  notify(method: string, params?: unknown): void {
    if (this._state !== 'connected') throw this.notOpenError();
    let frame: Buffer;
    try {
      frame = packFrame([MessageType.NOTIFY, method, params]);
    } catch (err) {
      throw new InvalidArgument(`params for ${method} cannot be encoded: ${(err as Error).message}`, { cause: err });
    }
    if (frame.length - HEADER_SIZE > this.peerMaxFrameSize) {
      throw new FrameTooLarge(frame.length - HEADER_SIZE, this.peerMaxFrameSize, 'outgoing');
    }
    this.writer.write(frame);
  }

  /** Let the peer call `method` on this connection. */
  register<M extends MethodName<Local>>(method: M, handler: Handler<Local, M, Remote>): this {
    this.registry.register(method, handler as unknown as AnyHandler);
    return this;
  }

  /** Let the peer open a server stream `method` here: the handler is usually an async generator. */
  registerStream<M extends MethodName<Local>>(method: M, handler: ServerStreamHandler<Local, M, Remote>): this {
    return this.registerKind(method, handler, 'server-stream');
  }

  /** Let the peer open a client stream: the handler reads `messages` and returns the result. */
  registerClientStream<M extends MethodName<Local>>(method: M, handler: ClientStreamHandler<Local, M, Remote>): this {
    return this.registerKind(method, handler, 'client-stream');
  }

  /** Let the peer open a bidirectional stream: the handler reads `messages` and yields replies. */
  registerBidiStream<M extends MethodName<Local>>(method: M, handler: BidiStreamHandler<Local, M, Remote>): this {
    return this.registerKind(method, handler, 'bidi-stream');
  }

  private registerKind(method: string, handler: unknown, kind: MethodKind): this {
    this.registry.register(method, handler as AnyHandler, kind);
    return this;
  }

  unregister(method: MethodName<Local>): boolean {
    return this.registry.unregister(method);
  }

  /**
   * Round-trip time to the peer in ms, measured with a PING/PONG pair. Rejects with
   * DeadlineExceeded after `timeout` (default 10 s) or the signal's reason on abort.
   */
  ping(options: { timeout?: number; signal?: AbortSignal } = {}): Promise<number> {
    if (this._state !== 'connected') return Promise.reject(this.notOpenError());
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const nonce = (this.pingNonce = this.pingNonce >= MAX_CALL_ID ? 1 : this.pingNonce + 1);
    return new Promise<number>((resolve, reject) => {
      const timeout = options.timeout ?? 10_000;
      const settle = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.pings.delete(nonce);
      };
      const onAbort = (): void => {
        settle();
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        settle();
        reject(new DeadlineExceeded(`no pong within ${timeout} ms`));
      }, timeout);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pings.set(nonce, {
        start: performance.now(),
        resolve: (ms) => {
          settle();
          resolve(ms);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
      });
      this.writer.write(packFrame([MessageType.PING, nonce]));
    });
  }

  /**
   * Close gracefully: tell the peer (SHUTDOWN), refuse new calls, let in-flight calls
   * in both directions finish for up to `drainTimeout` ms, then fail what is left with
   * ConnectionClosed and hang up. Idempotent: every call returns the same promise.
   */
  close(options: { drainTimeout?: number } = {}): Promise<void> {
    if (this.closePromise !== undefined) return this.closePromise;
    this.closePromise = new Promise<void>((resolve) => {
      if (this._state === 'closed') resolve();
      else this.once('close', () => resolve());
    });
    if (this._state === 'new' || this._state === 'pending') {
      this.terminate(new ConnectionClosed('connection closed before the handshake completed'), false);
    } else if (this._state === 'connected') {
      this.beginClosing(true, options.drainTimeout ?? this.options.drainTimeout);
    } else if (this._state === 'closing') {
      this.setDrainTimer(options.drainTimeout ?? this.options.drainTimeout);
    }
    return this.closePromise;
  }

  /** Drop the connection at once: everything pending fails with ConnectionClosed. */
  destroy(error?: TransportError): void {
    this.terminate(error ?? new ConnectionClosed('connection destroyed'), false);
  }

  // ---------------------------------------------------------------- handshake

  private start(): void {
    this.setState('pending');
    this.handshakeTimer = setTimeout(() => {
      this.terminate(new HandshakeTimeout(`handshake did not complete within ${this.options.handshakeTimeout} ms`), false);
    }, this.options.handshakeTimeout);
    this.handshakeTimer.unref();
    if (this.role === 'client') {
      const hello: Hello = {
        protocol: PROTOCOL_NAME,
        versions: [...SUPPORTED_VERSIONS],
        peerName: this.options.name,
        peerVersion: this.options.version,
        maxFrameSize: this.options.maxFrameSize,
        heartbeatMs: this.options.heartbeatInterval,
        streamWindowMessages: this.streamWindow.messages,
        streamWindowBytes: this.streamWindow.bytes,
      };
      if (this.options.token !== undefined) hello.token = this.options.token;
      this.writer.write(packFrame([MessageType.HELLO, hello]));
    }
  }

  private async onHello(hello: Hello): Promise<void> {
    const version = SUPPORTED_VERSIONS.find((v) => hello.versions.includes(v));
    if (hello.protocol !== PROTOCOL_NAME) {
      return this.reject(RejectReason.PROTOCOL, `expected protocol ${PROTOCOL_NAME}, got ${JSON.stringify(hello.protocol)}`);
    }
    if (version === undefined) {
      return this.reject(
        RejectReason.VERSION_MISMATCH,
        `server speaks protocol version ${SUPPORTED_VERSIONS.join(', ')}; client offered ${hello.versions.join(', ') || 'none'}`,
      );
    }
    if (this.options.token !== undefined && !tokensEqual(this.options.token, hello.token ?? undefined)) {
      return this.refuseAuth(hello.token ? 'wrong token' : 'a token is required');
    }
    if (this.options.authenticate !== undefined) {
      let ok = false;
      try {
        ok = await this.options.authenticate(hello, this.address);
      } catch {
        ok = false;
      }
      if (this._state !== 'pending') return;
      if (!ok) return this.refuseAuth('not authorised');
    }
    if (this.options.token !== undefined || this.options.authenticate !== undefined) this.options.onAuthOutcome?.(true);
    const welcome: Welcome = {
      protocol: PROTOCOL_NAME,
      version,
      peerName: this.options.name,
      peerVersion: this.options.version,
      connectionId: randomUUID(),
      maxFrameSize: this.options.maxFrameSize,
      heartbeatMs: this.options.heartbeatInterval,
      streamWindowMessages: this.streamWindow.messages,
      streamWindowBytes: this.streamWindow.bytes,
    };
    this.peerStreamWindow = peerWindow(hello);
    this.writer.write(packFrame([MessageType.WELCOME, welcome]));
    this.established({
      name: hello.peerName,
      version: hello.peerVersion,
      protocolVersion: version,
      connectionId: welcome.connectionId,
      address: this.address,
      maxFrameSize: hello.maxFrameSize,
      heartbeatMs: hello.heartbeatMs,
    });
  }

  private onWelcome(welcome: Welcome): void {
    if (welcome.protocol !== PROTOCOL_NAME || !SUPPORTED_VERSIONS.includes(welcome.version)) {
      this.terminate(new ProtocolError(`server chose unsupported protocol ${welcome.protocol}/${welcome.version}`), true);
      return;
    }
    this.peerStreamWindow = peerWindow(welcome);
    this.established({
      name: welcome.peerName,
      version: welcome.peerVersion,
      protocolVersion: welcome.version,
      connectionId: welcome.connectionId,
      address: this.address,
      maxFrameSize: welcome.maxFrameSize,
      heartbeatMs: welcome.heartbeatMs,
    });
  }

  /** A failed token or authenticate check, answered after the delay the server's throttle asks for. */
  private refuseAuth(message: string): void {
    const delay = this.options.onAuthOutcome?.(false) ?? 0;
    if (delay <= 0) return this.reject(RejectReason.UNAUTHENTICATED, message);
    const timer = setTimeout(() => {
      if (this._state === 'pending') this.reject(RejectReason.UNAUTHENTICATED, message);
    }, delay);
    timer.unref();
  }

  private reject(reason: string, message: string): void {
    const frame = packFrame([MessageType.REJECT, reason, message]);
    this.writer.close();
    this.decoder.stop();
    this.finishWith(new HandshakeRejected(reason, message), frame);
  }

  private established(peer: PeerInfo): void {
    clearTimeout(this.handshakeTimer);
    this.peer = peer;
    this.peerMaxFrameSize = peer.maxFrameSize;
    this.decoder.maxFrameSize = this.options.maxFrameSize;
    this.setState('connected');
    const interval = this.options.heartbeatInterval;
    if (interval > 0) {
      this.lastHeard = Date.now();
      this.scheduleHeartbeat(interval);
    }
    this.readyResolve(this);
  }

  // ---------------------------------------------------------------- reading

  private readonly onData = (chunk: Buffer): void => {
    // One clock read per chunk (not per frame): exact silence for the heartbeat, and the
    // start of a frame for frameTimeout.
    const now = Date.now();
    this.lastHeard = now;
    const wasPartial = this.decoder.bufferedBytes !== 0;
    const framesBefore = this.framesIn;
    try {
      this.decoder.push(chunk);
      if (this.decoder.bufferedBytes !== 0 && (!wasPartial || this.framesIn !== framesBefore)) this.frameStarted(now);
    } catch (err) {
      let error = err instanceof TransportError ? err : new ProtocolError(String(err), { cause: err });
      if (this._state === 'pending' && err instanceof FrameTooLarge) {
        // A huge "length" in the very first bytes: most likely not a wirecall peer at all
        // (an HTTP server, a wrong port). Say so, with the bytes, rather than "too large".
        const text = chunk.subarray(0, 24).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
        error = new ProtocolError(`peer does not speak the wirecall protocol (its first bytes: "${text}")`, { cause: err });
      }
      this.terminate(error, true);
    }
  };

  private readonly onFrame = (source: Buffer, start: number, end: number): void => {
    const m = nativeDialect.decode(source, start, end);
    this.framesIn++;
    this.frameSize = end - start;
    if (this._state === 'connected' || this._state === 'closing') {
      this.dispatch(m);
    } else if (this._state === 'pending') {
      this.dispatchHandshake(m);
    }
  };

  private dispatchHandshake(m: NativeMessage): void {
    if (this.role === 'server' && m[0] === MessageType.HELLO && !this.helloSeen) {
      // Only one hello: anything else before our answer is a protocol violation.
      this.helloSeen = true;
      void this.onHello(m[1]);
    } else if (this.role === 'client' && m[0] === MessageType.WELCOME) {
      this.onWelcome(m[1]);
    } else if (this.role === 'client' && m[0] === MessageType.REJECT) {
      this.decoder.stop();
      this.terminate(new HandshakeRejected(m[1], m[2]), false);
    } else {
      const expected = this.role === 'server' ? 'HELLO' : 'WELCOME or REJECT';
      this.terminate(new ProtocolError(`expected ${expected} as the first frame, got message type ${m[0]}`), true);
    }
  }

  private dispatch(m: NativeMessage): void {
    switch (m[0]) {
      case MessageType.CALL:
        this.onCall(m[1], m[2], m[3], m[4]);
        break;
      case MessageType.RESULT: {
        const call = this.settle(m[1]);
        if (call !== undefined) {
          call.resolve(m[2]);
          if (this._state === 'closing') this.checkDrained();
        } else {
          this.outgoingStreams.get(m[1])?.onResult(m[2]);
        }
        break;
      }
      case MessageType.ERROR: {
        const call = this.settle(m[1]);
        if (call !== undefined) {
          call.reject(errorFromBody(m[2], m[3]));
          if (this._state === 'closing') this.checkDrained();
        } else {
          this.outgoingStreams.get(m[1])?.onError(errorFromBody(m[2], m[3]));
        }
        break;
      }
      case MessageType.CANCEL: {
        const incoming = this.incoming.get(m[1]);
        if (incoming !== undefined) {
          this.forgetIncoming(incoming);
          incoming.abort(new CallCancelled('cancelled by the caller'));
          if (this._state === 'closing') this.checkDrained();
        } else {
          this.incomingStreams.get(m[1])?.abort(new CallCancelled('cancelled by the caller'));
        }
        break;
      }
      case MessageType.STREAM_OPEN:
        this.onStreamOpen(m[1], m[2], m[3], m[4], m[5], { messages: m[6], bytes: m[7] });
        break;
      case MessageType.CALLER_MESSAGE: {
        // Unknown ids are streams that already ended here: their late messages are dropped.
        const stream = this.incomingStreams.get(m[1]);
        if (stream !== undefined) this.checkDelivery(m[1], 'CALLER_MESSAGE', stream.onMessage(m[2], this.frameSize));
        break;
      }
      case MessageType.HANDLER_MESSAGE: {
        const stream = this.outgoingStreams.get(m[1]);
        if (stream !== undefined) this.checkDelivery(m[1], 'HANDLER_MESSAGE', stream.onMessage(m[2], this.frameSize));
        break;
      }
      case MessageType.CALLER_END:
        this.incomingStreams.get(m[1])?.onEnd();
        break;
      case MessageType.CALLER_CREDIT:
        this.incomingStreams.get(m[1])?.onCredit(m[2], m[3]);
        break;
      case MessageType.HANDLER_CREDIT:
        this.outgoingStreams.get(m[1])?.onCredit(m[2], m[3]);
        break;
      case MessageType.NOTIFY:
        this.onNotify(m[1], m[2]);
        break;
      case MessageType.PING:
        this.writer.write(packFrame([MessageType.PONG, m[1]]));
        break;
      case MessageType.PONG: {
        const waiter = this.pings.get(m[1]);
        if (waiter !== undefined) {
          this.pings.delete(m[1]);
          waiter.resolve(performance.now() - waiter.start);
        }
        break;
      }
      case MessageType.SHUTDOWN:
        if (m[1] !== null) this.peerShutdownReason = m[1];
        if (this._state === 'connected') this.beginClosing(false, this.options.drainTimeout);
        break;
      default:
        this.terminate(new ProtocolError(`unexpected message type ${m[0]} after the handshake`), true);
    }
  }

  // ---------------------------------------------------------------- outgoing calls

  /** Take a pending call out of every table; undefined if it already finished (late result). */
  private settle(id: number): OutgoingCall | undefined {
    const call = this.pending.get(id);
    if (call === undefined) return undefined;
    this.pending.delete(id);
    if (call.heapIndex >= 0) this.deadlines.remove(call);
    call.signal?.removeEventListener('abort', call);
    return call;
  }

  private expireOutgoing(call: OutgoingCall): void {
    if (this.pending.get(call.id) !== call) return;
    this.settle(call.id);
    this.writer.write(packFrame([MessageType.CANCEL, call.id]));
    call.reject(new DeadlineExceeded(`call ${call.id} exceeded its deadline`));
    if (this._state === 'closing') this.checkDrained();
  }

  private abortOutgoing(call: OutgoingCall): void {
    if (this.pending.get(call.id) !== call) return;
    this.settle(call.id);
    this.writer.write(packFrame([MessageType.CANCEL, call.id]));
    call.reject(new CallCancelled('call cancelled', { cause: call.signal?.reason }));
    if (this._state === 'closing') this.checkDrained();
  }

  // ---------------------------------------------------------------- incoming calls

  private onCall(id: number, method: string, params: unknown, timeoutMs: number | null): void {
    if (this.incoming.has(id) || this.incomingStreams.has(id)) {
      this.terminate(new ProtocolError(`peer reused call id ${id} while that call was still running`), true);
      return;
    }
    if (this._state !== 'connected') {
      this.sendError(id, Status.UNAVAILABLE, { name: 'Unavailable', message: 'connection is shutting down' });
      return;
    }
    if (this.incoming.size + this.incomingStreams.size >= this.options.maxConcurrentCalls) {
      this.refuseBusy(id, 'calls');
      return;
    }
    const entry = this.registry.get(method);
    if (entry === undefined || entry.kind !== 'unary') {
      this.sendError(id, Status.METHOD_NOT_FOUND, notFoundBody(method, entry?.kind, 'unary'));
      return;
    }
    const handler = entry.handler;
    const deadline = timeoutMs === null ? undefined : Date.now() + timeoutMs;
    const call = new IncomingCall(this as unknown as Connection<Contract>, id, method, deadline, false);
    this.incoming.set(id, call);
    if (deadline !== undefined) {
      call.dueAt = deadline;
      this.deadlines.add(call);
    }
    let result: unknown;
    try {
      result = handler(params, call);
    } catch (err) {
      this.failIncoming(call, err);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => this.completeIncoming(call, value),
        (err: unknown) => this.failIncoming(call, err),
      );
    } else {
      this.completeIncoming(call, result);
    }
  }

  private onStreamOpen(id: number, method: string, params: unknown, timeoutMs: number | null, kind: StreamKind, callerWindow: Window): void {
    if (this.incoming.has(id) || this.incomingStreams.has(id)) {
      this.terminate(new ProtocolError(`peer reused id ${id} while that call or stream was still running`), true);
      return;
    }
    if (this._state !== 'connected') {
      this.sendError(id, Status.UNAVAILABLE, { name: 'Unavailable', message: 'connection is shutting down' });
      return;
    }
    if (this.incoming.size + this.incomingStreams.size >= this.options.maxConcurrentCalls) {
      this.refuseBusy(id, 'calls and streams');
      return;
    }
    const wanted: MethodKind = kind === StreamKind.SERVER ? 'server-stream' : kind === StreamKind.CLIENT ? 'client-stream' : 'bidi-stream';
    const entry = this.registry.get(method);
    if (entry === undefined || entry.kind !== wanted) {
      this.sendError(id, Status.METHOD_NOT_FOUND, notFoundBody(method, entry?.kind, wanted));
      return;
    }
    const deadline = timeoutMs === null ? undefined : Date.now() + timeoutMs;
    const stream = new IncomingStream(
      this as unknown as Connection<Contract>,
      this.handlerLink,
      id,
      method,
      kind,
      deadline,
      callerWindow,
      this.streamWindow,
      this.maxStreamWindow,
      this.windowGrowth,
    );
    this.incomingStreams.set(id, stream);
    if (deadline !== undefined) {
      stream.dueAt = deadline;
      this.deadlines.add(stream);
    }
    stream.start(entry.handler as StreamHandler, params);
  }

  /** Refuse a call or stream over the concurrency limit; cut a peer that keeps trying. */
  private refuseBusy(id: number, what: string): void {
    const { maxConcurrentCalls, maxRefusedPerSecond } = this.options;
    if (this.refusals.note(Date.now())) {
      this.terminate(
        new LimitExceeded(
          `peer kept calling past the concurrency limit (${maxConcurrentCalls}): over ${maxRefusedPerSecond} refusals within a second (maxRefusedPerSecond)`,
        ),
        true,
      );
      return;
    }
    this.sendError(id, Status.RESOURCE_EXHAUSTED, {
      name: 'ResourceExhausted',
      message: `too many concurrent ${what} (limit ${maxConcurrentCalls})`,
    });
  }

  private forgetIncomingStream(stream: IncomingStream): void {
    if (this.incomingStreams.get(stream.id) !== stream) return;
    this.incomingStreams.delete(stream.id);
    if (stream.heapIndex >= 0) this.deadlines.remove(stream);
    if (this._state === 'closing') this.checkDrained();
  }

  private forgetOutgoingStream(stream: OutgoingStream): void {
    if (this.outgoingStreams.get(stream.id) !== stream) return;
    this.outgoingStreams.delete(stream.id);
    if (stream.heapIndex >= 0) this.deadlines.remove(stream);
    if (this._state === 'closing') this.checkDrained();
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
    this.terminate(new ProtocolError(why), true);
  }

  private forgetIncoming(call: IncomingCall): void {
    call.done = true;
    this.incoming.delete(call.id);
    if (call.heapIndex >= 0) this.deadlines.remove(call);
  }

  private completeIncoming(call: IncomingCall, value: unknown): void {
    if (call.done) return; // cancelled, expired, or the connection went away: drop quietly
    this.forgetIncoming(call);
    this.sendResult(call.id, call.method, value);
    if (this._state === 'closing') this.checkDrained();
  }

  private sendResult(id: number, method: string, value: unknown): void {
    if (this._state === 'closed') return;
    let frame: Buffer;
    try {
      frame = packFrame([MessageType.RESULT, id, value]);
    } catch (err) {
      this.sendError(id, Status.SERVER_ERROR, {
        name: 'EncodeError',
        message: `result of ${method} cannot be encoded: ${(err as Error).message}`,
      });
      return;
    }
    if (frame.length - HEADER_SIZE > this.peerMaxFrameSize) {
      this.sendError(id, Status.RESOURCE_EXHAUSTED, {
        name: 'FrameTooLarge',
        message: `result of ${method} is ${frame.length - HEADER_SIZE} bytes, over the caller's limit of ${this.peerMaxFrameSize}`,
      });
      return;
    }
    this.writer.write(frame);
  }

  private failIncoming(call: IncomingCall, err: unknown): void {
    if (call.done) return;
    this.forgetIncoming(call);
    const [status, body] = errorToBody(err, this.options.exposeStack);
    this.sendError(call.id, status, body);
    if (this._state === 'closing') this.checkDrained();
  }

  private expireIncoming(call: IncomingCall): void {
    if (call.done) return;
    this.forgetIncoming(call);
    call.abort(new DeadlineExceeded(`deadline of ${call.method} passed`));
    this.sendError(call.id, Status.DEADLINE_EXCEEDED, { name: 'DeadlineExceeded', message: `deadline of ${call.method} passed` });
    if (this._state === 'closing') this.checkDrained();
  }

  private sendError(id: number, status: number, body: ErrorBody): void {
    if (this._state === 'closed') return;
    let frame: Buffer;
    try {
      frame = packFrame([MessageType.ERROR, id, status, body]);
    } catch {
      // `data` was not encodable: send the rest.
      frame = packFrame([MessageType.ERROR, id, status, { name: body.name, message: body.message, code: body.code }]);
    }
    if (frame.length - HEADER_SIZE > this.peerMaxFrameSize) {
      frame = packFrame([MessageType.ERROR, id, status, { name: body.name, message: body.message.slice(0, 1024) }]);
    }
    this.writer.write(frame);
  }

  private onNotify(method: string, params: unknown): void {
    if (this.listenerCount('notification') > 0) {
      try {
        this.emit('notification', method, params);
      } catch (err) {
        this.reportHandlerError(err, method);
      }
    }
    const entry = this.registry.get(method);
    if (entry === undefined || entry.kind !== 'unary') return;
    const handler = entry.handler;
    const ctx = new IncomingCall(this as unknown as Connection<Contract>, 0, method, undefined, true);
    let result: unknown;
    try {
      result = handler(params, ctx);
    } catch (err) {
      this.reportHandlerError(err, method);
      return;
    }
    if (!isThenable(result)) return;
    // Notifications have no reply to refuse, so too many running handlers slow the
    // reader down instead: nothing is dropped and memory stays bounded.
    if (++this.activeNotifications === this.options.maxConcurrentCalls) this.pauseReading(PAUSE_NOTIFICATIONS, true);
    result.then(
      () => this.notificationDone(),
      (err: unknown) => {
        this.notificationDone();
        this.reportHandlerError(err, method);
      },
    );
  }

  private notificationDone(): void {
    if (this.activeNotifications-- === this.options.maxConcurrentCalls) this.pauseReading(PAUSE_NOTIFICATIONS, false);
  }

  private reportHandlerError(err: unknown, method: string): void {
    if (this.listenerCount('handlerError') > 0) this.emit('handlerError', err, method);
  }

  private closeSignal(): AbortSignal {
    this.closeController ??= new AbortController();
    return this.closeController.signal;
  }

  // ---------------------------------------------------------------- liveness and pressure

  private scheduleHeartbeat(delay: number): void {
    this.heartbeatTimer = setTimeout(this.onHeartbeat, delay);
    this.heartbeatTimer.unref();
  }

  /**
   * Ping every interval; the peer is dead after exactly 3 × max(ours, its) ms without a
   * byte from it. The tick that would pass that moment is brought forward to it, so
   * detection does not wait for the next whole interval.
   */
  private readonly onHeartbeat = (): void => {
    const now = Date.now();
    // While we are not reading, the silence is ours, not the peer's.
    if (this.pausedFor !== 0) this.lastHeard = now;
    const interval = this.options.heartbeatInterval;
    // A peer may announce a longer interval (a DCC app that blocks its event loop
    // for seconds, say); the longer of the two wins.
    const allowed = 3 * Math.max(interval, this.peer?.heartbeatMs ?? 0);
    const silent = now - this.lastHeard;
    if (silent >= allowed) {
      this.terminate(new ConnectionLost(`peer silent for ${silent} ms (3 heartbeat intervals of ${allowed / 3} ms)`), false);
      return;
    }
    this.writer.write(packFrame([MessageType.PING, 0]));
    this.scheduleHeartbeat(Math.min(interval, allowed - silent));
  };

  /**
   * Stop reading while our replies pile up unsent: a peer that never reads cannot grow
   * our memory. One that stays that way for slowPeerTimeout is cut.
   */
  private readonly onWritePressure = (high: boolean): void => {
    this.pauseReading(PAUSE_WRITE_PRESSURE, high);
    if (high) {
      this.slowPeerTimer = setTimeout(this.onSlowPeer, this.options.slowPeerTimeout);
      this.slowPeerTimer.unref();
    } else {
      clearTimeout(this.slowPeerTimer);
      this.slowPeerTimer = undefined;
      this.openGate();
    }
  };

  private readonly onSlowPeer = (): void => {
    const { slowPeerTimeout, highWaterMark } = this.options;
    this.terminate(
      new LimitExceeded(
        `peer left ${this.writer.bufferedBytes} bytes unread for ${slowPeerTimeout} ms (over ${highWaterMark} bytes for longer than slowPeerTimeout)`,
      ),
      true,
    );
  };

  private readonly onWriteOverflow = (buffered: number): void => {
    this.terminate(new LimitExceeded(`peer left ${buffered} bytes unread, over maxWriteBuffer (${this.options.maxWriteBuffer})`), true);
  };

  private whenWritable(): Promise<void> | undefined {
    if ((this.pausedFor & PAUSE_WRITE_PRESSURE) === 0) return undefined;
    this.writableGate ??= new Promise<void>((resolve) => {
      this.openWritableGate = resolve;
    });
    return this.writableGate;
  }

  private openGate(): void {
    const open = this.openWritableGate;
    this.writableGate = undefined;
    this.openWritableGate = undefined;
    open?.();
  }

  /** A frame began to arrive and did not complete in this chunk. */
  private frameStarted(now: number): void {
    this.partialSince = now;
    if (this.frameTimer === undefined && this._state !== 'pending') this.armFrameTimer(this.options.frameTimeout);
  }

  private armFrameTimer(delay: number): void {
    this.frameTimer = setTimeout(this.onFrameTimer, delay);
    this.frameTimer.unref();
  }

  private readonly onFrameTimer = (): void => {
    this.frameTimer = undefined;
    if (this.decoder.bufferedBytes === 0 || this.closeError !== undefined) return;
    const now = Date.now();
    // While we are not reading, the frame cannot complete; that is ours to wait for.
    if (this.pausedFor !== 0) this.partialSince = now;
    const { frameTimeout } = this.options;
    const left = this.partialSince + frameTimeout - now;
    if (left > 0) {
      this.armFrameTimer(left);
      return;
    }
    this.terminate(
      new LimitExceeded(`a frame was not completed within ${frameTimeout} ms (frameTimeout; ${this.decoder.bufferedBytes} bytes of it arrived)`),
      true,
    );
  };

  private pauseReading(reason: number, on: boolean): void {
    const before = this.pausedFor;
    this.pausedFor = on ? before | reason : before & ~reason;
    if (before === 0 && this.pausedFor !== 0) this.socket.pause();
    else if (before !== 0 && this.pausedFor === 0 && !this.socket.destroyed) this.socket.resume();
  }

  // ---------------------------------------------------------------- closing

  private notOpenError(): TransportError {
    if (this._state === 'new' || this._state === 'pending') return new ConnectionClosed('connection is not open yet');
    if (this._state === 'closing') return new ConnectionClosed('connection is closing');
    return this.closeError ?? new ConnectionClosed('connection is closed');
  }

  private beginClosing(sendShutdown: boolean, drainTimeout: number): void {
    this.setState('closing');
    if (sendShutdown) this.writer.write(packFrame([MessageType.SHUTDOWN, null]));
    this.setDrainTimer(drainTimeout);
    this.checkDrained();
  }

  private setDrainTimer(drainTimeout: number): void {
    if (this.drainTimer !== undefined) clearTimeout(this.drainTimer);
    this.drainTimer = setTimeout(() => {
      this.finishWith(new ConnectionClosed(`connection closed; drain timeout of ${drainTimeout} ms passed`));
    }, drainTimeout);
    this.drainTimer.unref();
  }

  private checkDrained(): void {
    if (this.pending.size === 0 && this.incoming.size === 0 && this.outgoingStreams.size === 0 && this.incomingStreams.size === 0) {
      this.finishWith(new ConnectionClosed('connection closed'));
    }
  }

  /**
   * Fail everything with `error`, optionally send one last frame, and hang up. The
   * state becomes CLOSED when the socket has closed (or after a short linger).
   */
  private finishWith(error: TransportError, lastFrame?: Buffer): void {
    if (this.closeError !== undefined) return;
    this.closeError = error;
    if (this._state !== 'closing') this.setState('closing');
    this.failEverything(error);
    this.writer.finish();
    const socket = this.socket;
    if (socket.destroyed) {
      this.onSocketClose();
      return;
    }
    const frame = lastFrame;
    if (frame !== undefined) socket.end(frame);
    else socket.end();
    this.lingerTimer = setTimeout(() => socket.destroy(), LINGER_MS);
    this.lingerTimer.unref();
  }

  /**
   * Fatal error: fail everything at once. For protocol violations we tell the peer why
   * (a SHUTDOWN with the reason) before hanging up.
   */
  private terminate(error: TransportError, tellPeer: boolean): void {
    if (this.closeError !== undefined) {
      // Already closing: a hard error just cuts the linger short.
      if (!this.socket.destroyed && this._state !== 'closed') this.socket.destroy();
      return;
    }
    this.decoder.stop();
    if (errorChannel.hasSubscribers) errorChannel.publish({ connection: this, error });
    // A peer with our bytes piling up unread would not read a reason either: it is
    // dropped at once, and its buffers with it. One that reads gets what was queued
    // before the reason (the refusals that led to a cut, say).
    if (tellPeer && this._state !== 'new' && this.writer.bufferedBytes <= this.options.highWaterMark) {
      // Before the handshake is done the peer waits for WELCOME or REJECT, so it gets a REJECT.
      const last =
        this._state === 'pending' && this.role === 'server'
          ? packFrame([MessageType.REJECT, RejectReason.PROTOCOL, `${error.code}: ${error.message}`])
          : packFrame([MessageType.SHUTDOWN, `${error.code}: ${error.message}`]);
      this.finishWith(error, last);
    } else {
      this.writer.close();
      this.closeError = error;
      if (this._state !== 'closing') this.setState('closing');
      this.failEverything(error);
      this.socket.destroy();
    }
  }

  private failEverything(error: TransportError): void {
    clearTimeout(this.handshakeTimer);
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.drainTimer);
    clearTimeout(this.slowPeerTimer);
    clearTimeout(this.frameTimer);
    // Producers waiting for the socket wake up and find their streams gone.
    this.openGate();
    this.deadlines.clear();
    this.readyReject(error);
    if (this.pending.size > 0) {
      const calls = this.pending.values();
      this.pending.clear();
      for (const call of calls) {
        call.signal?.removeEventListener('abort', call);
        call.reject(error);
      }
    }
    if (this.incoming.size > 0) {
      const calls = this.incoming.values();
      this.incoming.clear();
      for (const call of calls) call.abort(error);
    }
    if (this.outgoingStreams.size > 0) {
      const streams = this.outgoingStreams.values();
      this.outgoingStreams.clear();
      for (const stream of streams) stream.lost(error);
    }
    if (this.incomingStreams.size > 0) {
      const streams = this.incomingStreams.values();
      this.incomingStreams.clear();
      for (const stream of streams) stream.abort(error);
    }
    for (const waiter of this.pings.values()) waiter.reject(error);
    this.pings.clear();
    this.closeController?.abort(error);
  }

  private readonly onSocketError = (err: Error): void => {
    this.socketError = err;
  };

  private readonly onSocketClose = (): void => {
    if (this._state === 'closed') return;
    clearTimeout(this.lingerTimer);
    if (this.closeError === undefined) {
      // The peer hung up without a SHUTDOWN (or in the middle of a handshake).
      const cause = this.socketError;
      const reason = this.peerShutdownReason;
      const detail = reason !== undefined ? ` (${reason})` : cause ? `: ${cause.message}` : '';
      const error =
        this._state === 'closing'
          ? new ConnectionClosed(`peer closed the connection${detail}`, { cause })
          : new ConnectionLost(`connection lost${detail}`, { cause });
      this.decoder.stop();
      this.writer.close();
      this.closeError = error;
      this.failEverything(error);
    }
    this.setState('closed');
    this.socket.off('data', this.onData);
    const error = this.closeError;
    const clean = error instanceof ConnectionClosed && this.peer !== undefined;
    this.emit('close', clean ? undefined : error);
  };

  private setState(next: ConnectionState): void {
    const previous = this._state;
    if (previous === next) return;
    this._state = next;
    if (stateChannel.hasSubscribers) stateChannel.publish({ connection: this, state: next, previous });
    this.emit('state', next, previous);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

function tokensEqual(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  // Hash first so lengths match and the comparison time says nothing about the token.
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

function errorFromBody(status: number, body: ErrorBody): WirecallError {
  if (status === Status.DEADLINE_EXCEEDED) return new DeadlineExceeded(body.message);
  return new RemoteError(status as Status, body.message, {
    remoteName: body.name,
    remoteCode: body.code ?? undefined,
    data: body.data ?? undefined,
    remoteStack: body.stack ?? undefined,
  });
}

/** What a handler's failure looks like on the wire. */
function errorToBody(err: unknown, exposeStack: boolean): [number, ErrorBody] {
  if (err instanceof RemoteError) {
    const body: ErrorBody = { name: err.remoteName, message: err.message };
    if (err.remoteCode !== undefined) body.code = err.remoteCode;
    if (err.data !== undefined) body.data = err.data;
    if (exposeStack && err.stack) body.stack = err.stack;
    return [err.status, body];
  }
  if (err instanceof Error) {
    const body: ErrorBody = { name: err.name, message: err.message };
    const extra = err as Error & { code?: unknown; data?: unknown };
    if (typeof extra.code === 'string') body.code = extra.code;
    if (extra.data !== undefined) body.data = extra.data;
    if (exposeStack && err.stack) body.stack = err.stack;
    const status = err instanceof WirecallError && 'status' in err && err.status === Status.INVALID_ARGUMENT ? Status.INVALID_ARGUMENT : Status.METHOD_ERROR;
    return [status, body];
  }
  return [Status.METHOD_ERROR, { name: 'Error', message: String(err) }];
}

function definedOnly(w: Partial<Window> | undefined): Partial<Window> {
  const out: Partial<Window> = {};
  if (w?.messages !== undefined) out.messages = w.messages;
  if (w?.bytes !== undefined) out.bytes = w.bytes;
  return out;
}

function checkWindow(w: Window, what: string): Window {
  for (const key of ['messages', 'bytes'] as const) {
    const v = w[key];
    if (!Number.isInteger(v) || v < 1 || v > MAX_CALL_ID) {
      throw new InvalidArgument(`${what}.${key} must be an integer from 1 to ${MAX_CALL_ID}, got ${v}`);
    }
  }
  return w;
}

/** The credit the peer grants our streams, from its handshake. */
function peerWindow(h: { streamWindowMessages?: number | null; streamWindowBytes?: number | null }): Window {
  return {
    messages: h.streamWindowMessages ?? DEFAULT_STREAM_WINDOW.messages,
    bytes: h.streamWindowBytes ?? DEFAULT_STREAM_WINDOW.bytes,
  };
}

const KIND_HINT: Record<MethodKind, string> = {
  unary: 'call()',
  'server-stream': 'stream()',
  'client-stream': 'clientStream()',
  'bidi-stream': 'bidiStream()',
};

function notFoundBody(method: string, found: MethodKind | undefined, wanted: MethodKind): ErrorBody {
  if (found === undefined) return { name: 'MethodNotFound', message: `method not found: ${method}` };
  return {
    name: 'MethodNotFound',
    message: `${method} is a ${found} method, not a ${wanted} one; open it with ${KIND_HINT[found]}`,
  };
}
