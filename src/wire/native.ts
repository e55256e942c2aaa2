import { ProtocolError } from '../errors.js';
import type { Dialect } from './dialect.js';
import { decodeScanned, packFrame, unpackPayload } from './msgpack.js';

/**
 * The native wirecall protocol: every frame payload is one MessagePack array whose first
 * element is the message type. Positional fields keep frames small and decoding cheap;
 * only the handshake uses a map, so it can grow without a version bump.
 * docs/PROTOCOL.md describes every message byte by byte.
 */
export const PROTOCOL_NAME = 'wirecall';
export const PROTOCOL_VERSION = 1;
/** Versions this implementation speaks, highest first. */
export const SUPPORTED_VERSIONS: readonly number[] = [1];

export const MessageType = {
  HELLO: 1,
  WELCOME: 2,
  REJECT: 3,
  CALL: 16,
  RESULT: 17,
  ERROR: 18,
  CANCEL: 19,
  NOTIFY: 20,
  // Streams (32–47; 38–47 reserved). "Caller" frames go from the side that opened the
  // stream to the side running its handler; "handler" frames go the other way. Both
  // carry the caller's id. The handler side ends with RESULT or ERROR; CANCEL cancels.
  STREAM_OPEN: 32,
  CALLER_MESSAGE: 33,
  CALLER_END: 34,
  CALLER_CREDIT: 35,
  HANDLER_MESSAGE: 36,
  HANDLER_CREDIT: 37,
  PING: 48,
  PONG: 49,
  SHUTDOWN: 50,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Client → server, first frame. */
export interface Hello {
  protocol: string;
  versions: number[];
  peerName: string;
  peerVersion: string;
  token?: string;
  maxFrameSize: number;
  heartbeatMs: number;
  /** Initial credit of every stream for messages we receive (absent or nil: DEFAULT_STREAM_WINDOW). */
  streamWindowMessages?: number | null;
  streamWindowBytes?: number | null;
}

/** Server → client, first frame when the hello is accepted. */
export interface Welcome {
  protocol: string;
  version: number;
  peerName: string;
  peerVersion: string;
  connectionId: string;
  maxFrameSize: number;
  heartbeatMs: number;
  streamWindowMessages?: number | null;
  streamWindowBytes?: number | null;
}

/** What a stream is for; the caller chooses it in STREAM_OPEN. */
export const StreamKind = {
  /** The handler sends many messages (the caller sends only the params). */
  SERVER: 1,
  /** The caller sends many messages, the handler answers with one result. */
  CLIENT: 2,
  /** Both sides send many messages. */
  BIDI: 3,
} as const;
export type StreamKind = (typeof StreamKind)[keyof typeof StreamKind];

/** Credit a receiver grants each new stream unless the handshake or STREAM_OPEN says otherwise. */
export const DEFAULT_STREAM_WINDOW = { messages: 1024, bytes: 256 * 1024 } as const;

/** Why a handshake was refused; travels as a string. */
export const RejectReason = {
  VERSION_MISMATCH: 'VERSION_MISMATCH',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  PROTOCOL: 'PROTOCOL',
  UNAVAILABLE: 'UNAVAILABLE',
} as const;

/** The error body of an ERROR message. */
export interface ErrorBody {
  name: string;
  message: string;
  code?: string;
  data?: unknown;
  stack?: string;
}

export type HelloMessage = [typeof MessageType.HELLO, Hello];
export type WelcomeMessage = [typeof MessageType.WELCOME, Welcome];
export type RejectMessage = [typeof MessageType.REJECT, string, string];
/** [type, id, method, params, timeoutMs | nil] */
export type CallMessage = [typeof MessageType.CALL, number, string, unknown, number | null];
export type ResultMessage = [typeof MessageType.RESULT, number, unknown];
export type ErrorMessage = [typeof MessageType.ERROR, number, number, ErrorBody];
export type CancelMessage = [typeof MessageType.CANCEL, number];
export type NotifyMessage = [typeof MessageType.NOTIFY, string, unknown];
export type PingMessage = [typeof MessageType.PING, number];
export type PongMessage = [typeof MessageType.PONG, number];
export type ShutdownMessage = [typeof MessageType.SHUTDOWN, string | null];
/** [type, id, method, params, timeoutMs | nil, kind, windowMessages, windowBytes] */
export type StreamOpenMessage = [typeof MessageType.STREAM_OPEN, number, string, unknown, number | null, StreamKind, number, number];
export type StreamDataMessage = [typeof MessageType.CALLER_MESSAGE | typeof MessageType.HANDLER_MESSAGE, number, unknown];
export type CallerEndMessage = [typeof MessageType.CALLER_END, number];
export type StreamCreditMessage = [typeof MessageType.CALLER_CREDIT | typeof MessageType.HANDLER_CREDIT, number, number, number];

export type NativeMessage =
  | HelloMessage
  | WelcomeMessage
  | RejectMessage
  | CallMessage
  | ResultMessage
  | ErrorMessage
  | CancelMessage
  | NotifyMessage
  | PingMessage
  | PongMessage
  | ShutdownMessage
  | StreamOpenMessage
  | StreamDataMessage
  | CallerEndMessage
  | StreamCreditMessage;

/** Every integer field of the protocol (ids, nonces, timeouts, windows, credit) is a uint32. */
export const MAX_UINT32 = 0xffff_ffff;
/** Call and stream ids run from 1 to this, then wrap. */
export const MAX_CALL_ID = MAX_UINT32;

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_UINT32;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

function bad(what: string): never {
  throw new ProtocolError(`malformed ${what} message`);
}

function checkHello(h: unknown): Hello {
  if (
    !isMap(h) ||
    typeof h.protocol !== 'string' ||
    !Array.isArray(h.versions) ||
    !h.versions.every((v) => typeof v === 'number') ||
    typeof h.peerName !== 'string' ||
    typeof h.peerVersion !== 'string' ||
    (h.token !== undefined && h.token !== null && typeof h.token !== 'string') ||
    !isId(h.maxFrameSize) ||
    !isId(h.heartbeatMs) ||
    !optionalWindow(h)
  ) {
    bad('HELLO');
  }
  return h as unknown as Hello;
}

function checkWelcome(w: unknown): Welcome {
  if (
    !isMap(w) ||
    typeof w.protocol !== 'string' ||
    typeof w.version !== 'number' ||
    typeof w.peerName !== 'string' ||
    typeof w.peerVersion !== 'string' ||
    typeof w.connectionId !== 'string' ||
    !isId(w.maxFrameSize) ||
    !isId(w.heartbeatMs) ||
    !optionalWindow(w)
  ) {
    bad('WELCOME');
  }
  return w as unknown as Welcome;
}

function optionalWindow(m: Record<string, unknown>): boolean {
  // Absent and nil mean the same (the defaults), as for every optional handshake key.
  const { streamWindowMessages: messages, streamWindowBytes: bytes } = m;
  return (messages == null || (isId(messages) && messages > 0)) && (bytes == null || (isId(bytes) && bytes > 0));
}

function checkErrorBody(e: unknown): boolean {
  return (
    isMap(e) &&
    typeof e.name === 'string' &&
    typeof e.message === 'string' &&
    (e.code === undefined || e.code === null || typeof e.code === 'string') &&
    (e.stack === undefined || e.stack === null || typeof e.stack === 'string')
  );
}

/** Check the shape of a decoded value; returns it typed, or throws ProtocolError. */
export function validateNativeMessage(m: unknown): NativeMessage {
  if (!Array.isArray(m) || m.length === 0 || typeof m[0] !== 'number') {
    throw new ProtocolError('frame is not a wirecall message (expected an array starting with a type number)');
  }
  switch (m[0]) {
    case MessageType.CALL:
      if (m.length !== 5 || !isId(m[1]) || typeof m[2] !== 'string' || !(m[4] === null || isId(m[4]))) bad('CALL');
      return m as CallMessage;
    case MessageType.RESULT:
      if (m.length !== 3 || !isId(m[1])) bad('RESULT');
      return m as ResultMessage;
    case MessageType.ERROR:
      if (m.length !== 4 || !isId(m[1]) || !isId(m[2]) || m[2] === 0 || !checkErrorBody(m[3])) bad('ERROR');
      return m as ErrorMessage;
    case MessageType.CANCEL:
      if (m.length !== 2 || !isId(m[1])) bad('CANCEL');
      return m as CancelMessage;
    case MessageType.NOTIFY:
      if (m.length !== 3 || typeof m[1] !== 'string') bad('NOTIFY');
      return m as NotifyMessage;
    case MessageType.PING:
    case MessageType.PONG:
      if (m.length !== 2 || !isId(m[1])) bad(m[0] === MessageType.PING ? 'PING' : 'PONG');
      return m as PingMessage | PongMessage;
    case MessageType.SHUTDOWN:
      if (m.length !== 2 || !(m[1] === null || typeof m[1] === 'string')) bad('SHUTDOWN');
      return m as ShutdownMessage;
    case MessageType.STREAM_OPEN:
      if (
        m.length !== 8 ||
        !isId(m[1]) ||
        typeof m[2] !== 'string' ||
        !(m[4] === null || isId(m[4])) ||
        !(m[5] === StreamKind.SERVER || m[5] === StreamKind.CLIENT || m[5] === StreamKind.BIDI) ||
        !isId(m[6]) ||
        m[6] === 0 ||
        !isId(m[7]) ||
        m[7] === 0
      ) {
        bad('STREAM_OPEN');
      }
      return m as StreamOpenMessage;
    case MessageType.CALLER_MESSAGE:
    case MessageType.HANDLER_MESSAGE:
      if (m.length !== 3 || !isId(m[1])) bad(m[0] === MessageType.CALLER_MESSAGE ? 'CALLER_MESSAGE' : 'HANDLER_MESSAGE');
      return m as StreamDataMessage;
    case MessageType.CALLER_END:
      if (m.length !== 2 || !isId(m[1])) bad('CALLER_END');
      return m as CallerEndMessage;
    case MessageType.CALLER_CREDIT:
    case MessageType.HANDLER_CREDIT:
      if (m.length !== 4 || !isId(m[1]) || !isId(m[2]) || !isId(m[3])) {
        bad(m[0] === MessageType.CALLER_CREDIT ? 'CALLER_CREDIT' : 'HANDLER_CREDIT');
      }
      return m as StreamCreditMessage;
    case MessageType.HELLO:
      if (m.length !== 2) bad('HELLO');
      checkHello(m[1]);
      return m as HelloMessage;
    case MessageType.WELCOME:
      if (m.length !== 2) bad('WELCOME');
      checkWelcome(m[1]);
      return m as WelcomeMessage;
    case MessageType.REJECT:
      if (m.length !== 3 || typeof m[1] !== 'string' || typeof m[2] !== 'string') bad('REJECT');
      return m as RejectMessage;
    default:
      if (m[0] >= 32 && m[0] <= 47) throw new ProtocolError(`stream message type ${m[0]} is reserved and not supported by this peer`);
      throw new ProtocolError(`unknown message type ${m[0]}`);
  }
}

export const nativeDialect: Dialect<NativeMessage> = {
  name: 'wirecall/1',
  encode: packFrame,
  decode(source: Buffer, start?: number, end?: number): NativeMessage {
    return validateNativeMessage(unpackPayload(source, start, end));
  },
  decodeScanned(source: Buffer, start: number, end: number): NativeMessage {
    return validateNativeMessage(decodeScanned(source, start, end));
  },
};
