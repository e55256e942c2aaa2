/**
 * The inside of a Connection: the socket and the state machine (NEW → PENDING →
 * CONNECTED → CLOSING → CLOSED), reading frames and handing them to their part
 * (dispatch.ts; dcc-mcp envelopes through the bridge first), and every way a connection
 * ends. The parts it wires together: opening (handshake, dialect), outgoing-calls,
 * incoming-calls, streams, outbox, watchdog.
 */
import { channel } from 'node:diagnostics_channel';
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { ConnectionClosed, ConnectionLost, LimitExceeded, ProtocolError, TransportError } from '../errors.js';
import type { DccMcpMessage } from '../wire/dcc-mcp.js';
import type { Dialect } from '../wire/detect-dialect.js';
import { encodeReject, encodeShutdown } from '../wire/encode.js';
import { MAX_CALL_ID, RejectReason, type NativeMessage } from '../wire/native.js';
import type { Caller, ConnectionEvents, Contract, ConnectionState, PeerInfo } from './contract.js';
import { dispatch, type DispatchTargets } from './dispatch.js';
import { DccLinkBridge } from './dcc-link-bridge.js';
import { DccMcpBridge } from './dcc-mcp-bridge.js';
import { nativeFrames, type Frames } from './frames.js';
import { dccLinkPeerInfo, dccMcpPeerInfo } from './handshake.js';
import { Opening, type OpeningLink, type Role } from './opening.js';
import type { Window } from './flow.js';
import { IncomingCalls, type IncomingLink } from './incoming-calls.js';
import { resolveOptions, type ClientConnectionOptions, type ResolvedOptions, type ServerConnectionOptions } from './options.js';
import { Outbox } from './outbox.js';
import { FrameReader, type ReaderLink } from './reader.js';
import { OutgoingCalls, type OutgoingLink } from './outgoing-calls.js';
import type { HandlerRegistry } from './handlers.js';
import { Streams, type StreamsLink } from './streams.js';
import { TimerQueue } from './timer-queue.js';
import { Watchdog, type WatchdogLink } from './watchdog.js';

/** A handshake is small; refuse to buffer more than this before we know who is talking. */
const HANDSHAKE_FRAME_LIMIT = 64 * 1024;
/** After the final write of a close, wait this long for the peer to hang up. */
const LINGER_MS = 2000;

/** Why reading from the socket is paused: a bit per reason. */
const PAUSE_WRITE_PRESSURE = 1;
const PAUSE_NOTIFICATIONS = 2;

const stateChannel = channel('wirecall:connection:state');
const errorChannel = channel('wirecall:connection:error');

export type { Role } from './opening.js';

/** The public connection this core serves: its events go out through it, handlers see it as `ctx.connection`. */
export type CoreOwner = EventEmitter<ConnectionEvents>;

export class ConnectionCore<O extends CoreOwner> implements DispatchTargets, OpeningLink, ReaderLink, OutgoingLink, IncomingLink, StreamsLink, WatchdogLink {
  peer: PeerInfo | undefined = undefined;
  /** Resolves with the owner when the handshake is done; rejects with the reason it failed. */
  readonly ready: Promise<O>;
  readonly options: ResolvedOptions;
  readonly outgoing: OutgoingCalls;
  readonly incoming: IncomingCalls;
  readonly streams: Streams;
  readonly watchdog: Watchdog;
  private _state: ConnectionState = 'new';
  readonly out: Outbox;
  readonly deadlines = new TimerQueue();
  /** The owner, as handlers see it (`ctx.connection`). */
  readonly caller: Caller<Contract>;
  /** Builds what the parts send, in the connection's dialect. */
  frames: Frames = nativeFrames;
  /** Set when the connection speaks dcc-mcp-core's envelope. */
  private bridge: DccMcpBridge | undefined;
  private readonly reader: FrameReader;
  private readonly opening: Opening;
  private nextId = 0;
  private readyResolve!: (owner: O) => void;
  private readyReject!: (e: unknown) => void;
  private drainTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** Our writes are over the high-water mark. */
  private pressured = false;
  private closeController: AbortController | undefined;
  private closeError: TransportError | undefined;
  private closePromise: Promise<void> | undefined;
  private socketError: Error | undefined;
  /** The peer sent SHUTDOWN: its reason ('' without one). */
  private peerShutdownReason: string | undefined;

  constructor(
    private readonly owner: O,
    private readonly role: Role,
    private readonly socket: Duplex,
    private readonly address: string,
    options: ServerConnectionOptions & ClientConnectionOptions,
    readonly registry: HandlerRegistry,
  ) {
    const o = (this.options = resolveOptions(options));
    this.ready = new Promise<O>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    // Nobody may be awaiting `ready` (a server-side connection, say); failures also
    // surface as the 'close' event.
    this.ready.catch(() => {});
    this.reader = new FrameReader(socket, this, {
      maxFrameSize: Math.min(HANDSHAKE_FRAME_LIMIT, o.maxFrameSize),
      maxMessageElements: o.maxMessageElements,
      maxMessageDepth: o.maxMessageDepth,
    });
    this.out = new Outbox(socket, o.highWaterMark, o.maxWriteBuffer, HANDSHAKE_FRAME_LIMIT, {
      onPressure: (high) => {
        this.pressured = high;
        this.pauseForPressure();
        this.watchdog.pressure(high);
      },
      onOverflow: (buffered) => this.terminate(new LimitExceeded(`peer left ${buffered} bytes unread, over maxWriteBuffer (${o.maxWriteBuffer})`), true),
    });
    this.caller = owner as unknown as Caller<Contract>;
    // The core is the link every part talks to it through (the interfaces they declare).
    this.outgoing = new OutgoingCalls(this);
    this.incoming = new IncomingCalls(this, o);
    this.streams = new Streams(this, o);
    this.watchdog = new Watchdog(this, o);
    this.opening = new Opening(this, role, address);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
    if (role === 'server') this.reader.sniff(o.dialects.has('dcc-mcp') ? o.maxFrameSize : HANDSHAKE_FRAME_LIMIT, o.dialects.has('dcc-link'));
  }

  get state(): ConnectionState {
    return this._state;
  }

  // ------------------------------------------------- the links the parts use (see their *Link interfaces)

  get defaultTimeout(): number | undefined { return this.options.defaultTimeout; }
  get accepting(): boolean { return this._state === 'connected'; }
  get peerStreams(): number { return this.streams.peerCount; }
  get calls(): IncomingCalls { return this.incoming; }
  get peerHeartbeatMs(): number { return this.peer?.heartbeatMs ?? 0; }
  get readingPaused(): boolean { return this.reader.paused; }
  get partialFrameBytes(): number { return this.reader.partialFrameBytes; }
  get bytesIn(): number { return this.reader.bytesIn; }
  get unsentBytes(): number { return this.out.bufferedBytes; }
  get drains(): number { return this.out.drains; }
  get ending(): boolean { return this.closeError !== undefined; }

  hasPeerStream(id: number): boolean { return this.streams.hasPeers(id); }
  write(frame: Buffer): void { this.out.write(frame); }
  sendCall(frame: Buffer): void {
    if (this.bridge === undefined) this.out.write(frame);
    else this.bridge.send(frame);
  }
  undecodable(error: Error, topic: string): void { this.handlerFailed(error, topic); }
  closeSignal(): AbortSignal { return (this.closeController ??= new AbortController()).signal; }

  /** A call or stream finished: a closing connection may be drained now. */
  settled(): void {
    if (this.pressured) this.pauseForPressure();
    if (this._state === 'closing') this.checkDrained();
  }

  /**
   * Stop reading while our writes pile up unsent (the peer is not reading them): a peer
   * that never reads cannot grow our memory, and one that stays so for slowPeerTimeout
   * is cut. But not while calls or streams of ours await the peer: what we would read
   * may be their answers, and if both sides stopped reading neither could go on (8
   * calls of 64 KiB each way over a Unix socket were enough).
   */
  private pauseForPressure(): void {
    this.reader.pause(PAUSE_WRITE_PRESSURE, this.pressured && this.outgoing.size === 0 && !this.streams.hasAnyOurs);
  }
  cut(error: TransportError, tellPeer: boolean): void { this.terminate(error, tellPeer); }

  throttleNotifications(on: boolean): void { this.reader.pause(PAUSE_NOTIFICATIONS, on); }

  notified(method: string, params: unknown): void {
    if (this.owner.listenerCount('notification') === 0) return;
    try {
      this.owner.emit('notification', method, params);
    } catch (err) {
      this.handlerFailed(err, method);
    }
  }

  handlerFailed(err: unknown, method: string): void {
    if (this.owner.listenerCount('handlerError') > 0) this.owner.emit('handlerError', err, method);
  }

  /** A server-side connection still waiting for the client's HELLO. */
  get awaitingHello(): boolean { return this._state === 'pending' && this.opening.awaitingHello; }

  /**
   * Close gracefully: tell the peer (SHUTDOWN), refuse new calls, let in-flight calls
   * in both directions finish for up to `drainTimeout` ms, then fail what is left with
   * ConnectionClosed and hang up. Idempotent: every call returns the same promise.
   */
  close(options: { drainTimeout?: number } = {}): Promise<void> {
    if (this.closePromise !== undefined) return this.closePromise;
    this.closePromise = new Promise<void>((resolve) => {
      if (this._state === 'closed') resolve();
      else this.owner.once('close', () => resolve());
    });
    const drainTimeout = options.drainTimeout ?? this.options.drainTimeout;
    if (this._state === 'new' || this._state === 'pending') {
      this.terminate(new ConnectionClosed('connection closed before the handshake completed'), false);
    } else if (this._state === 'connected') {
      this.beginClosing(true, drainTimeout);
    } else if (this._state === 'closing') {
      this.setDrainTimer(drainTimeout);
    }
    return this.closePromise;
  }

  /** Drop the connection at once: everything pending fails with ConnectionClosed. */
  destroy(error?: TransportError): void {
    this.terminate(error ?? new ConnectionClosed('connection destroyed'), false);
  }

  /** Our next call or stream id: unique among those still running in this direction. */
  allocateId(): number {
    if (this.pressured) this.reader.pause(PAUSE_WRITE_PRESSURE, false); // its answer must get in
    let id = this.nextId;
    do id = id >= MAX_CALL_ID ? 1 : id + 1;
    while (this.outgoing.has(id) || this.streams.hasOurs(id));
    this.nextId = id;
    return id;
  }

  // ---------------------------------------------------------------- opening (OpeningLink)

  start(): void {
    this.setState('pending');
    this.opening.start();
  }

  get pending(): boolean { return this._state === 'pending'; }
  get heardAnything(): boolean { return this.reader.heardAnything; }
  setPeerWindow(window: Window): void { this.streams.peerWindow = window; }

  /** ReaderLink: the dialect of the first bytes a client sent. */
  sniffed(dialect: Dialect | 'unknown'): void {
    this.opening.sniffed(dialect);
  }

  /** No handshake: open at once, in the envelope. */
  speakDccMcp(): void {
    this.bridge = new DccMcpBridge(this, this.options.dccMcp);
    this.frames = this.bridge;
    this.reader.useDccMcp(this.options.maxFrameSize);
    this.established(dccMcpPeerInfo(this.address));
  }

  /** No handshake: open at once, in DCC-Link (dcc-link-bridge.ts). The peer closing its socket is its shutdown. */
  speakDccLink(): void {
    const bridge = new DccLinkBridge(this, this.options.dccLink);
    this.frames = bridge;
    this.reader.useDccLink(this.options.maxFrameSize, (frame) => {
      const m = this._state === 'connected' || this._state === 'closing' ? bridge.translate(frame) : undefined;
      if (m !== undefined) dispatch(m, frame.body.length, this);
    });
    this.socket.once('end', () => this.shutdown(null));
    this.established(dccLinkPeerInfo(this.address), this.options.dccLink.heartbeat);
  }

  refuse(error: TransportError, lastFrame: Buffer): void {
    this.out.close();
    this.reader.stop();
    this.finishWith(error, lastFrame);
  }

  established(peer: PeerInfo, heartbeat = true): void {
    this.opening.stop();
    this.peer = peer;
    this.out.peerMaxFrameSize = peer.maxFrameSize;
    this.reader.maxFrameSize = this.options.maxFrameSize;
    this.setState('connected');
    if (heartbeat) this.watchdog.start();
    this.readyResolve(this.owner);
  }

  // ---------------------------------------------------------------- reading (ReaderLink)

  get handshaking(): boolean {
    return this._state === 'pending';
  }

  heard(now: number): void {
    this.watchdog.heard(now);
  }

  frameStarted(now: number): void {
    this.watchdog.frameStarted(now, this._state !== 'pending');
  }

  message(m: NativeMessage, payloadSize: number): void {
    if (this._state === 'connected' || this._state === 'closing') dispatch(m, payloadSize, this);
    else if (this._state === 'pending') this.opening.message(m);
  }

  envelope(m: DccMcpMessage, payloadSize: number): void {
    if (this._state !== 'connected' && this._state !== 'closing') return;
    const native = this.bridge!.translate(m);
    if (native !== undefined) dispatch(native, payloadSize, this);
  }

  failed(error: TransportError): void {
    this.terminate(error, true);
  }

  /** DispatchTargets: answer a PING. */
  pong(nonce: number): void {
    this.out.write(this.frames.pong(nonce));
  }

  /** DispatchTargets: the peer is shutting down. */
  shutdown(reason: string | null): void {
    this.peerShutdownReason = reason ?? '';
    if (this._state === 'connected') this.beginClosing(false, this.options.drainTimeout);
  }

  /** DispatchTargets: a message type with no place after the handshake. */
  unexpected(type: number): void {
    this.terminate(new ProtocolError(`unexpected message type ${type} after the handshake`), true);
  }

  // ---------------------------------------------------------------- closing

  notOpenError(): TransportError {
    if (this._state === 'new' || this._state === 'pending') return new ConnectionClosed('connection is not open yet');
    if (this._state === 'closing') return new ConnectionClosed(`connection is closing${this.byPeer()}`);
    return this.closeError ?? new ConnectionClosed('connection is closed');
  }

  /** ': the peer shut down (its reason)' when it did, for the messages users read. */
  private byPeer(): string {
    const reason = this.peerShutdownReason;
    return reason === undefined ? '' : `: the peer shut down${reason === '' ? '' : ` (${reason})`}`;
  }

  private beginClosing(sendShutdown: boolean, drainTimeout: number): void {
    this.setState('closing');
    if (sendShutdown) this.out.write(this.frames.shutdown(null));
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
    if (this.outgoing.size === 0 && this.incoming.size === 0 && this.streams.size === 0) this.finishWith(new ConnectionClosed(`connection closed${this.byPeer()}`));
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
    this.out.finish();
    const socket = this.socket;
    if (socket.destroyed) return this.onSocketClose();
    if (lastFrame !== undefined) socket.end(lastFrame);
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
    this.reader.stop();
    if (errorChannel.hasSubscribers) errorChannel.publish({ connection: this.owner, error });
    // A peer with our bytes piling up unread would not read a reason either: it is
    // dropped at once, and its buffers with it. One that reads gets what was queued
    // before the reason (the refusals that led to a cut, say). A dcc-mcp-core peer (either
    // dialect) is cut silently, as it cuts its own peers.
    if (tellPeer && this.frames === nativeFrames && this._state !== 'new' && this.out.bufferedBytes <= this.options.highWaterMark) {
      // Before the handshake is done the peer waits for WELCOME or REJECT, so it gets a REJECT.
      const reason = `${error.code}: ${error.message}`;
      const last = this._state === 'pending' && this.role === 'server' ? encodeReject(RejectReason.PROTOCOL, reason) : encodeShutdown(reason);
      this.finishWith(error, last);
    } else {
      this.out.close();
      this.closeError = error;
      if (this._state !== 'closing') this.setState('closing');
      this.failEverything(error);
      this.socket.destroy();
    }
  }

  private failEverything(error: TransportError): void {
    this.opening.stop();
    clearTimeout(this.drainTimer);
    this.watchdog.stop(error);
    this.deadlines.clear();
    this.readyReject(error);
    this.outgoing.failAll(error);
    this.incoming.abortAll(error);
    this.streams.failAll(error);
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
      const detail = reason ? ` (${reason})` : cause ? `: ${cause.message}` : '';
      const error =
        this._state === 'closing' ? new ConnectionClosed(`peer closed the connection${detail}`, { cause }) : new ConnectionLost(`connection lost${detail}`, { cause });
      this.reader.stop();
      this.out.close();
      this.closeError = error;
      this.failEverything(error);
    }
    this.setState('closed');
    this.reader.detach();
    const error = this.closeError;
    const clean = error instanceof ConnectionClosed && this.peer !== undefined;
    this.owner.emit('close', clean ? undefined : error);
  };

  private setState(next: ConnectionState): void {
    const previous = this._state;
    if (previous === next) return;
    this._state = next;
    if (stateChannel.hasSubscribers) stateChannel.publish({ connection: this.owner, state: next, previous });
    this.owner.emit('state', next, previous);
  }
}
