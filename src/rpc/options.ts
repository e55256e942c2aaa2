/**
 * A connection's options: what users pass, their defaults, and the checked, resolved
 * values every part of the connection reads. Resolved once, when the connection is made.
 */
import { InvalidOption } from '../errors.js';
import { DEFAULT_MAX_FRAME_SIZE } from '../wire/frame-decoder.js';
import { DEFAULT_MAX_MESSAGE_DEPTH, DEFAULT_MAX_MESSAGE_ELEMENTS } from '../wire/msgpack-guard.js';
import { DEFAULT_STREAM_WINDOW, MAX_UINT32, type Hello } from '../wire/native.js';
import type { Dialect } from '../wire/detect-dialect.js';
import type { TlsClientOptions, TlsPeer } from '../transport/tls-options.js';
import type { AnyHandler } from './contract.js';
import { resolveDccLinkOptions, type DccLinkOptions, type ResolvedDccLinkOptions } from './dcc-link-codec.js';
import { resolveDccMcpOptions, type DccMcpOptions, type ResolvedDccMcpOptions } from './dcc-mcp-codec.js';
import { DEFAULT_MAX_STREAM_WINDOW_BYTES, DEFAULT_MAX_STREAM_WINDOW_GROWTH, type Window } from './flow.js';
import type { HandlerRegistry } from './handlers.js';

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
   * the peer and stream producers wait; both resume at half of it. Default 256 KiB. A
   * connection starts at a mark of 64 KiB (or this, if lower) and doubles it up to this
   * each time the peer catches up, so a peer that never reads holds 64 KiB of ours.
   */
  highWaterMark?: number;
  /** Cut a peer that reads none of our bytes for this long while over the mark (see highWaterMark), in ms. Default 30 000. */
  slowPeerTimeout?: number;
  /**
   * Cut a peer at once when its unsent bytes pass this: while reading is paused, replies
   * of calls already running still add to them. Generous, since a peer that reads can
   * also be this far behind for a moment (8 calls of 1 MiB answered in one tick).
   * Default 64 MiB.
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
  /** Connections in dcc-mcp-core's envelope dialect: payload codecs, calls in flight (docs/DCC-MCP.md). */
  dccMcp?: DccMcpOptions;
  /** Connections in DCC-Link (dcc-mcp-core ≥ 0.14): body codecs, progress, heartbeat (docs/DCC-LINK.md). */
  dccLink?: DccLinkOptions;
  /**
   * @internal Set by `connect()` and the Server for a connection over TLS: what TLS
   * knows of the peer, read when the handshake needs it (`peer.tls`, `authenticate`).
   */
  tlsPeer?: () => TlsPeer | undefined;
}

/** What `authenticate` is told about the client besides its HELLO (the third argument). */
export interface AuthenticatePeer {
  /** The same as the second argument: `tcp://addr:port`, or the Unix/pipe endpoint. */
  readonly address: string;
  /** Over TLS: the client's verified certificate (mutual TLS) and the session; undefined without TLS. */
  readonly tls: TlsPeer | undefined;
}

/**
 * The protocols a connection may speak: wirecall's own, dcc-mcp-core's envelope
 * (0.12.3–0.13.6), or DCC-Link (dcc-mcp-core ≥ 0.14's IpcChannelAdapter).
 */
export type DialectName = Dialect;

export interface ClientConnectionOptions extends ConnectionOptions {
  /** Sent in the handshake; the server may require it. */
  token?: string;
  /**
   * `'dcc-mcp'` talks to a dcc-mcp-core IpcListener (or a wirecall server) in its envelope:
   * no handshake, calls, notifications and pings only. `'dcc-link'` talks DCC-Link to a
   * dcc-mcp-core IpcChannelAdapter (`unix:/tmp/<name>.sock`, see dccLinkSocketPath) or a
   * wirecall server that takes it: the same, plus cancel. Default `'wirecall'`.
   */
  dialect?: DialectName;
  /**
   * TLS over a tcp:// endpoint (a tls:// endpoint uses TLS with or without it): the CA
   * that signs the server's certificate (default: the system's), our certificate and
   * key for mutual TLS, the name to check (docs/TLS.md). `handshakeTimeout` covers the
   * TLS handshake too. Read by `connect()` (and so by the TransportManager's connections).
   */
  tls?: TlsClientOptions;
}

export interface ServerConnectionOptions extends ConnectionOptions {
  /** Require this token in the client's handshake. */
  token?: string;
  /**
   * Decide on each handshake yourself; runs after the token check. The third argument
   * carries the client's TLS identity (`peer.tls.subject`, `fingerprint256`…) over TLS.
   */
  authenticate?: (hello: Readonly<Hello>, address: string, peer: AuthenticatePeer) => boolean | Promise<boolean>;
  /** Handlers shared with other connections (the server's). */
  registry?: HandlerRegistry;
  /**
   * The dialects a client may speak, told apart by its first frame. dcc-mcp-core peers
   * send no handshake, so they pass no token or `authenticate` check: the default is
   * `['wirecall', 'dcc-mcp']` without those, `['wirecall']` with either. `'dcc-link'` is
   * only taken when listed (a Python `IpcChannelAdapter.connect(name)` client dials
   * `/tmp/<name>.sock`: listen there).
   */
  dialects?: readonly DialectName[];
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
  maxWriteBuffer: 64 * 1024 * 1024,
};

/** Every option with its value: defaults applied, windows checked. */
export interface ResolvedOptions {
  readonly name: string;
  readonly version: string;
  readonly token: string | undefined;
  readonly authenticate: ServerConnectionOptions['authenticate'];
  readonly onAuthOutcome: ServerConnectionOptions['onAuthOutcome'];
  readonly maxFrameSize: number;
  readonly heartbeatInterval: number;
  readonly handshakeTimeout: number;
  readonly frameTimeout: number;
  readonly drainTimeout: number;
  readonly maxConcurrentCalls: number;
  readonly maxRefusedPerSecond: number;
  readonly exposeStack: boolean;
  readonly defaultTimeout: number | undefined;
  readonly highWaterMark: number;
  readonly slowPeerTimeout: number;
  readonly maxWriteBuffer: number;
  readonly maxMessageElements: number;
  readonly maxMessageDepth: number;
  /** Credit we grant per stream (announced in the handshake). */
  readonly streamWindow: Window;
  /** How far a stream's window grows. */
  readonly maxStreamWindow: Window;
  readonly maxStreamWindowGrowth: number;
  /** The client's dialect; the server's is found from the first frame. */
  readonly dialect: DialectName;
  /** Dialects a server takes. */
  readonly dialects: ReadonlySet<DialectName>;
  readonly dccMcp: ResolvedDccMcpOptions;
  readonly dccLink: ResolvedDccLinkOptions;
  readonly tlsPeer: (() => TlsPeer | undefined) | undefined;
}

export function resolveOptions(options: ServerConnectionOptions & ClientConnectionOptions): ResolvedOptions {
  const streamWindow = checkWindow({ ...DEFAULT_STREAM_WINDOW, ...definedOnly(options.streamWindow) }, 'streamWindow');
  // By default the message window stays as announced; only the bytes grow. (A limit
  // below the window means no growth: InboundQueue never shrinks a window.)
  const maxStreamWindow = checkWindow(
    { messages: streamWindow.messages, bytes: DEFAULT_MAX_STREAM_WINDOW_BYTES, ...definedOnly(options.maxStreamWindow) },
    'maxStreamWindow',
  );
  const growth = options.maxStreamWindowGrowth ?? DEFAULT_MAX_STREAM_WINDOW_GROWTH;
  if (!Number.isInteger(growth) || growth < 0) {
    throw new InvalidOption(`maxStreamWindowGrowth must be an integer >= 0, got ${growth}`);
  }
  const maxConcurrentCalls = options.maxConcurrentCalls ?? DEFAULTS.maxConcurrentCalls;
  const highWaterMark = options.highWaterMark ?? DEFAULTS.highWaterMark;
  return {
    name: options.name ?? DEFAULTS.name,
    version: options.version ?? DEFAULTS.version,
    token: options.token,
    authenticate: options.authenticate,
    onAuthOutcome: options.onAuthOutcome,
    maxFrameSize: options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
    heartbeatInterval: options.heartbeatInterval ?? DEFAULTS.heartbeatInterval,
    handshakeTimeout: options.handshakeTimeout ?? DEFAULTS.handshakeTimeout,
    frameTimeout: options.frameTimeout ?? DEFAULTS.frameTimeout,
    drainTimeout: options.drainTimeout ?? DEFAULTS.drainTimeout,
    maxConcurrentCalls,
    maxRefusedPerSecond: options.maxRefusedPerSecond ?? Math.max(1000, maxConcurrentCalls),
    exposeStack: options.exposeStack ?? false,
    defaultTimeout: options.defaultTimeout,
    highWaterMark,
    slowPeerTimeout: options.slowPeerTimeout ?? DEFAULTS.slowPeerTimeout,
    maxWriteBuffer: options.maxWriteBuffer ?? DEFAULTS.maxWriteBuffer,
    maxMessageElements: options.maxMessageElements ?? DEFAULT_MAX_MESSAGE_ELEMENTS,
    maxMessageDepth: options.maxMessageDepth ?? DEFAULT_MAX_MESSAGE_DEPTH,
    streamWindow,
    maxStreamWindow,
    maxStreamWindowGrowth: growth,
    dialect: checkDialect(options.dialect ?? 'wirecall', 'dialect'),
    dialects: resolveDialects(options),
    dccMcp: resolveDccMcpOptions(options.dccMcp),
    dccLink: resolveDccLinkOptions(options.dccLink),
    tlsPeer: options.tlsPeer,
  };
}

function checkDialect(d: unknown, what: string): DialectName {
  if (d !== 'wirecall' && d !== 'dcc-mcp' && d !== 'dcc-link') {
    throw new InvalidOption(`${what} must be 'wirecall', 'dcc-mcp' or 'dcc-link', got ${JSON.stringify(d)}`);
  }
  return d;
}

function resolveDialects(options: ServerConnectionOptions): ReadonlySet<DialectName> {
  const given = options.dialects;
  if (given === undefined) {
    const authenticated = options.token !== undefined || options.authenticate !== undefined;
    return new Set<DialectName>(authenticated ? ['wirecall'] : ['wirecall', 'dcc-mcp']);
  }
  if (!Array.isArray(given) || given.length === 0) throw new InvalidOption(`dialects must be a non-empty array of 'wirecall', 'dcc-mcp' and 'dcc-link'`);
  return new Set(given.map((d, i) => checkDialect(d, `dialects[${i}]`)));
}

/** The window for one stream: the connection's, with what the caller chose for it. */
export function streamWindowFor(base: Window, chosen: Partial<Window> | undefined): Window {
  return checkWindow({ ...base, ...definedOnly(chosen) }, 'window');
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
    if (!Number.isInteger(v) || v < 1 || v > MAX_UINT32) {
      throw new InvalidOption(`${what}.${key} must be an integer from 1 to ${MAX_UINT32}, got ${v}`);
    }
  }
  return w;
}

/** The credit the peer grants our streams, from its handshake. */
export function peerWindow(h: { streamWindowMessages?: number | null; streamWindowBytes?: number | null }): Window {
  return {
    messages: h.streamWindowMessages ?? DEFAULT_STREAM_WINDOW.messages,
    bytes: h.streamWindowBytes ?? DEFAULT_STREAM_WINDOW.bytes,
  };
}
