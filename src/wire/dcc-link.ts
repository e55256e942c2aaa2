import { FrameTooLarge, InvalidOption, ProtocolError } from '../errors.js';
import { DEFAULT_MAX_MESSAGE_ELEMENTS, checkPayload } from './msgpack-guard.js';
import { decodeScanned, packFrame } from './msgpack.js';

/**
 * DCC-Link, the wire of dcc-mcp-core ≥ 0.14 (checked against 0.20.49; docs/DCC-LINK.md).
 *
 * A DCC-Link frame, as its `DccLinkFrame.encode()` writes it:
 *
 *     [u32 BE n][u8 0x80 | version][u8 type][u64 BE seq][body]      n = 10 + body length
 *     [u32 BE n][u8 type][u64 BE seq][body]                         version 0 ("legacy"), n = 9 + body length
 *
 * The body is opaque bytes to the frame (its decoder takes any bytes; the package's own
 * callers put JSON or UTF-8 text there, its Rust source comment says MessagePack).
 *
 * On Linux its `IpcChannelAdapter` carries each frame over a Unix stream socket at
 * `/tmp/<name>.sock` (or `<name>` itself when it starts with `/`), wrapped once more by
 * ipckit's channel: `[u32 LE m][the whole DCC-Link frame]`, m ≤ 16 MiB. So one message on
 * the socket is `[u32 LE m][u32 BE n][0x81][type][u64 BE seq][body]` with m = n + 4.
 * `encodeDccLink` and `DccLinkStreamDecoder` speak that; `encodeDccLinkFrame` and
 * `decodeDccLinkFrame` the bare frame (what `DccLinkFrame.encode()/decode()` exchange).
 */

/** The protocol version 0.20.49 writes and the only one it reads besides 0 (legacy). */
export const DCC_LINK_VERSION = 1;
/** Bytes of the frame's own length prefix (big-endian). */
export const DCC_LINK_PREFIX = 4;
/** Bytes between the prefix and the body: version tag, type, seq. */
export const DCC_LINK_HEADER = 10;
/** The same for a version 0 frame: type, seq. */
export const DCC_LINK_LEGACY_HEADER = 9;
/** Bytes of ipckit's channel prefix (little-endian). */
export const IPCKIT_PREFIX = 4;
/** ipckit's limit on one channel message (the whole DCC-Link frame): larger ones are refused by both ends. */
export const IPCKIT_MAX_MESSAGE = 16 * 1024 * 1024;
/** Largest body a version 1 frame can carry on an ipckit channel. */
export const DCC_LINK_MAX_BODY = IPCKIT_MAX_MESSAGE - DCC_LINK_PREFIX - DCC_LINK_HEADER;

/** The type tags, as `DccLinkType` numbers them. */
export const DCC_LINK_TYPES = {
  call: 1,
  reply: 2,
  err: 3,
  progress: 4,
  cancel: 5,
  push: 6,
  ping: 7,
  pong: 8,
} as const;

export type DccLinkTypeName = keyof typeof DCC_LINK_TYPES;
const TYPE_NAMES: readonly (DccLinkTypeName | undefined)[] = [
  undefined,
  'call',
  'reply',
  'err',
  'progress',
  'cancel',
  'push',
  'ping',
  'pong',
];

/** One DCC-Link frame. `seq` is a u64, hence a bigint. */
export interface DccLinkFrame {
  type: DccLinkTypeName;
  seq: bigint;
  body: Buffer;
  /** 1, or 0 for a legacy frame (no version byte). */
  version: 0 | 1;
}

/** What the encoders take: seq may be a number (a non-negative safe integer); version defaults to 1; body to empty. */
export interface DccLinkFrameInput {
  type: DccLinkTypeName;
  seq: bigint | number;
  body?: Uint8Array;
  version?: 0 | 1;
}

const U64_MAX = 0xffff_ffff_ffff_ffffn;

function checkSeq(seq: bigint | number): bigint {
  if (typeof seq === 'number') {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new ProtocolError(`DCC-Link seq ${seq} is not a non-negative safe integer (use a bigint above 2^53)`);
    return BigInt(seq);
  }
  if (typeof seq !== 'bigint' || seq < 0n || seq > U64_MAX) throw new ProtocolError(`DCC-Link seq ${String(seq)} is outside 0..2^64-1`);
  return seq;
}

function headerSize(version: number): number {
  if (version === 1) return DCC_LINK_HEADER;
  if (version === 0) return DCC_LINK_LEGACY_HEADER;
  throw new ProtocolError(`unsupported DCC-Link version ${String(version)} (0 and 1 exist)`);
}

/** Write the frame (its own BE prefix first) at `out[at…]`; returns the end offset. */
function writeFrame(out: Buffer, at: number, f: DccLinkFrameInput, body: Uint8Array, header: number): number {
  const code: number | undefined = (DCC_LINK_TYPES as Record<string, number>)[f.type];
  if (code === undefined) throw new ProtocolError(`unknown DCC-Link frame type ${JSON.stringify(f.type)}`);
  const version = f.version ?? DCC_LINK_VERSION;
  out.writeUInt32BE(header + body.length, at);
  let p = at + DCC_LINK_PREFIX;
  if (version === 1) out[p++] = 0x80 | DCC_LINK_VERSION;
  out[p++] = code;
  out.writeBigUInt64BE(checkSeq(f.seq), p);
  p += 8;
  out.set(body, p);
  return p + body.length;
}

function bodyOf(f: DccLinkFrameInput): Uint8Array {
  const body = f.body ?? EMPTY;
  if (!(body instanceof Uint8Array)) throw new ProtocolError('DCC-Link body must be a Buffer or Uint8Array');
  return body;
}

const EMPTY = Buffer.alloc(0);

/** The bare frame, `[u32 BE n][0x81][type][u64 BE seq][body]`: the bytes of `DccLinkFrame.encode()`. */
export function encodeDccLinkFrame(f: DccLinkFrameInput): Buffer {
  const body = bodyOf(f);
  const header = headerSize(f.version ?? DCC_LINK_VERSION);
  if (DCC_LINK_PREFIX + header + body.length > 0xffff_ffff) throw new ProtocolError(`DCC-Link body of ${body.length} bytes is too large for a frame`);
  const out = Buffer.allocUnsafe(DCC_LINK_PREFIX + header + body.length);
  writeFrame(out, 0, f, body, header);
  return out;
}

/**
 * One complete message for an ipckit channel (what `IpcChannelAdapter.send_frame` writes):
 * `[u32 LE m][u32 BE n][0x81][type][u64 BE seq][body]`. Throws ProtocolError for a frame
 * over ipckit's 16 MiB, which its receiver would refuse (and then lose its place in the stream).
 */
export function encodeDccLink(f: DccLinkFrameInput): Buffer {
  const body = bodyOf(f);
  const header = headerSize(f.version ?? DCC_LINK_VERSION);
  const m = DCC_LINK_PREFIX + header + body.length;
  if (m > IPCKIT_MAX_MESSAGE) {
    throw new ProtocolError(`DCC-Link frame of ${m} bytes exceeds ipckit's limit of ${IPCKIT_MAX_MESSAGE} bytes per message`);
  }
  const out = Buffer.allocUnsafe(IPCKIT_PREFIX + m);
  out.writeUInt32LE(m, 0);
  writeFrame(out, IPCKIT_PREFIX, f, body, header);
  return out;
}

/** Shorthands: the complete channel message for each type. */
export const encodeDccLinkCall = (seq: bigint | number, body?: Uint8Array): Buffer => encodeDccLink({ type: 'call', seq, body });
export const encodeDccLinkReply = (seq: bigint | number, body?: Uint8Array): Buffer => encodeDccLink({ type: 'reply', seq, body });
export const encodeDccLinkErr = (seq: bigint | number, body?: Uint8Array): Buffer => encodeDccLink({ type: 'err', seq, body });
export const encodeDccLinkProgress = (seq: bigint | number, body?: Uint8Array): Buffer =>
  encodeDccLink({ type: 'progress', seq, body });
export const encodeDccLinkCancel = (seq: bigint | number): Buffer => encodeDccLink({ type: 'cancel', seq });
export const encodeDccLinkPush = (seq: bigint | number, body?: Uint8Array): Buffer => encodeDccLink({ type: 'push', seq, body });
export const encodeDccLinkPing = (seq: bigint | number, body?: Uint8Array): Buffer => encodeDccLink({ type: 'ping', seq, body });
export const encodeDccLinkPong = (seq: bigint | number, body?: Uint8Array): Buffer => encodeDccLink({ type: 'pong', seq, body });

function hexByte(b: number): string {
  return `0x${b.toString(16).padStart(2, '0')}`;
}

/**
 * Decode the bare frame `source[start, end)` (its BE prefix included, exactly one frame),
 * with the checks of 0.20.49's `DccLinkFrame.decode`, in its order: at least 13 bytes;
 * the prefix equal to the bytes that follow it; a version tag (high bit set) needs 14 bytes
 * and version 1; the type 1–8. The body is a view into `source` unless `copy` is true.
 */
export function decodeDccLinkFrame(source: Buffer, start = 0, end = source.length, copy = false): DccLinkFrame {
  const size = end - start;
  if (size < DCC_LINK_PREFIX + DCC_LINK_LEGACY_HEADER) {
    throw new ProtocolError(`DCC-Link frame of ${size} bytes is too short (at least ${DCC_LINK_PREFIX + DCC_LINK_LEGACY_HEADER})`);
  }
  const declared = source.readUInt32BE(start);
  if (declared !== size - DCC_LINK_PREFIX) {
    throw new ProtocolError(`DCC-Link frame length mismatch: its prefix says ${declared} bytes, ${size - DCC_LINK_PREFIX} follow`);
  }
  let p = start + DCC_LINK_PREFIX;
  let version: 0 | 1 = 0;
  const tag = source[p]!;
  if (tag & 0x80) {
    if (size < DCC_LINK_PREFIX + DCC_LINK_HEADER) {
      throw new ProtocolError(`versioned DCC-Link frame of ${size} bytes is too short (at least ${DCC_LINK_PREFIX + DCC_LINK_HEADER})`);
    }
    if ((tag & 0x7f) !== DCC_LINK_VERSION) {
      throw new ProtocolError(`unsupported DCC-Link protocol version ${tag & 0x7f} (tag ${hexByte(tag)}; supported: ${DCC_LINK_VERSION})`);
    }
    version = 1;
    p++;
  }
  const code = source[p]!;
  const type = TYPE_NAMES[code];
  if (type === undefined) throw new ProtocolError(`unknown DCC-Link frame type ${code} (known: 1-8)`);
  const seq = source.readBigUInt64BE(p + 1);
  const body = copy ? Buffer.from(source.subarray(p + 9, end)) : source.subarray(p + 9, end);
  return { type, seq, body, version };
}

export interface DccLinkStreamOptions {
  /** Largest channel message (the whole DCC-Link frame) accepted. Default and maximum: ipckit's 16 MiB. */
  maxMessageSize?: number;
}

/**
 * Splits the byte stream of an ipckit channel (`[u32 LE m][DCC-Link frame of m bytes]`…)
 * into checked frames. Each frame is copied out of the socket chunk, so it may be kept.
 * A message over the size limit throws FrameTooLarge as soon as its 4 prefix bytes are in
 * (before any of it is buffered); a message that is not a valid frame throws
 * ProtocolError. Either stops the decoder: the stream has no way to resynchronise (the
 * Python side loses its place too), so the connection must be closed.
 */
export class DccLinkStreamDecoder {
  readonly maxMessageSize: number;
  private readonly onFrame: (frame: DccLinkFrame) => void;
  private readonly prefix = Buffer.alloc(IPCKIT_PREFIX);
  private prefixFill = 0;
  private message: Buffer | null = null;
  private messageFill = 0;
  private stopped = false;

  constructor(onFrame: (frame: DccLinkFrame) => void, options: DccLinkStreamOptions = {}) {
    const max = options.maxMessageSize ?? IPCKIT_MAX_MESSAGE;
    if (!Number.isInteger(max) || max < DCC_LINK_PREFIX + DCC_LINK_LEGACY_HEADER || max > IPCKIT_MAX_MESSAGE) {
      throw new InvalidOption(`maxMessageSize must be an integer from 13 to ${IPCKIT_MAX_MESSAGE}, got ${String(max)}`);
    }
    this.maxMessageSize = max;
    this.onFrame = onFrame;
  }

  /** Bytes held for a message not yet complete (0 between messages). */
  get pending(): number {
    return this.prefixFill + this.messageFill;
  }

  push(chunk: Buffer): void {
    if (this.stopped) throw new ProtocolError('DCC-Link stream decoder stopped after an earlier error');
    try {
      this.consume(chunk);
    } catch (err) {
      this.stopped = true;
      throw err;
    }
  }

  private consume(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.message === null) {
        const take = Math.min(IPCKIT_PREFIX - this.prefixFill, chunk.length - at);
        chunk.copy(this.prefix, this.prefixFill, at, at + take);
        this.prefixFill += take;
        at += take;
        if (this.prefixFill < IPCKIT_PREFIX) return;
        const m = this.prefix.readUInt32LE(0);
        if (m > this.maxMessageSize) throw new FrameTooLarge(m, this.maxMessageSize);
        if (m < DCC_LINK_PREFIX + DCC_LINK_LEGACY_HEADER) {
          throw new ProtocolError(`ipckit message of ${m} bytes cannot hold a DCC-Link frame (at least ${DCC_LINK_PREFIX + DCC_LINK_LEGACY_HEADER})`);
        }
        this.message = Buffer.allocUnsafe(m);
        this.messageFill = 0;
        this.prefixFill = 0;
      }
      const msg = this.message;
      const take = Math.min(msg.length - this.messageFill, chunk.length - at);
      chunk.copy(msg, this.messageFill, at, at + take);
      this.messageFill += take;
      at += take;
      if (this.messageFill < msg.length) return;
      this.message = null;
      this.messageFill = 0;
      this.onFrame(decodeDccLinkFrame(msg));
    }
  }
}

// ------------------------------------------------------------------- bodies

/**
 * Decode a body as one MessagePack value (the convention the Rust source documents), with
 * the structure scanner first (msgpack-guard.ts), as the dcc-mcp decoder does. Bodies are
 * not checked by the frame decoder, because the peer accepts any bytes there. An empty
 * body is `undefined`. Elements are limited like dcc-mcp payloads: at least the default,
 * else one per byte (the frame size bounds the work).
 */
export function decodeDccLinkBody(frame: Pick<DccLinkFrame, 'type' | 'body'>): unknown {
  const { body } = frame;
  if (body.length === 0) return undefined;
  try {
    checkPayload(body, 0, body.length, Math.max(DEFAULT_MAX_MESSAGE_ELEMENTS, body.length));
    return decodeScanned(body, 0, body.length);
  } catch (err) {
    if (err instanceof ProtocolError) throw new ProtocolError(`DCC-Link ${frame.type} body is not one MessagePack value: ${err.message}`, { cause: err });
    throw err;
  }
}

/** A value as a MessagePack body (`undefined` → empty body). */
export function encodeDccLinkBody(value: unknown): Buffer {
  return value === undefined ? Buffer.alloc(0) : packFrame(value).subarray(4);
}

/** A body as JSON (what the package's own scripts and docs put in Call and Reply bodies). */
export function decodeDccLinkJsonBody(frame: Pick<DccLinkFrame, 'type' | 'body'>): unknown {
  const text = new TextDecoder('utf-8', { fatal: true });
  try {
    return JSON.parse(text.decode(frame.body)) as unknown;
  } catch (err) {
    throw new ProtocolError(`DCC-Link ${frame.type} body is not UTF-8 JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** The channel path `IpcChannelAdapter.create(name)` binds on Unix (checked on Linux): `/tmp/<name>.sock`, or `name` when absolute. */
export function dccLinkSocketPath(name: string): string {
  if (name.length === 0 || name.includes('\0')) throw new ProtocolError(`DCC-Link channel name ${JSON.stringify(name)} is empty or holds NUL`);
  return name.startsWith('/') ? name : `/tmp/${name}.sock`;
}
