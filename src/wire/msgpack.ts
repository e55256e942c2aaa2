import { C1, Packr, Unpackr, RESERVE_START_SPACE, addExtension } from 'msgpackr';
import { ProtocolError } from '../errors.js';
import { HEADER_SIZE } from './frame-decoder.js';

/**
 * Plain, portable MessagePack: no msgpackr records or other private extensions, so any
 * MessagePack library in any language reads what we write. `undefined` becomes nil.
 */
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });
/** 64-bit integers become numbers when they fit exactly, BigInts otherwise. */
// 'auto' is missing from msgpackr's type declarations but supported by its decoder.
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'auto' as 'number' });

/**
 * msgpackr (2.1.3) writes a typed array other than Uint8Array as `bin` by copying
 * element values into bytes: values are truncated and the rest of the `bin` is
 * uninitialised memory sent to the peer. Encode their raw bytes instead, as plain
 * `bin`, which every MessagePack reader understands. One extension matches them all
 * (a class per type would put eleven `instanceof` checks in front of every Buffer).
 * The registration is process-wide for msgpackr; an extension without a `type` adds no
 * extension type to the wire.
 */
class NonByteView {
  static [Symbol.hasInstance](value: unknown): boolean {
    return ArrayBuffer.isView(value) && !(value instanceof Uint8Array);
  }
}
addExtension({
  Class: NonByteView,
  write: (view: ArrayBufferView) => Buffer.from(view.buffer, view.byteOffset, view.byteLength),
} as unknown as Parameters<typeof addExtension>[0]);

/** Space reserved in front of the encoding for the length prefix: no copy per frame. */
const RESERVE_PREFIX = RESERVE_START_SPACE | HEADER_SIZE;

/** Encode `value` as one complete frame: 4-byte big-endian length, then the MessagePack. */
export function packFrame(value: unknown): Buffer {
  const frame = packr.pack(value, RESERVE_PREFIX);
  frame.writeUInt32BE(frame.length - HEADER_SIZE, 0);
  return frame;
}

/**
 * Frames up to this many bytes are decoded from a copy at the start of `scratch`.
 * msgpackr (2.1.3) decodes the strings of a value through its native extractor unless
 * the value *ends* within the first 140 bytes of its buffer (unpack.js, `srcEnd < 140`),
 * so a small frame decoded in place behind others in a socket chunk paid a call into
 * C++ per frame: 460–580 ns per small CALL or RESULT frame in place, 300–330 ns from
 * the copy. The copy also checks for 0xC1 as it goes.
 */
const SMALL_FRAME = 128;
const scratch = Buffer.allocUnsafe(SMALL_FRAME);
/** For frames in `scratch`, which the next frame overwrites: `bin` values are copied out. */
const smallUnpackr = new Unpackr({ useRecords: false, int64AsType: 'auto' as 'number', copyBuffers: true });

/**
 * Decode `source[start, end)`, which must hold exactly one MessagePack value. Large
 * payloads are decoded in place (rather than from a view per frame), which lets msgpackr
 * reuse its DataView for every frame of a socket chunk; their `bin` values are views
 * into `source`. Payloads of up to 128 bytes are decoded from a copy (see SMALL_FRAME),
 * so their `bin` values are copies and never keep a socket chunk alive.
 */
export function unpackPayload(source: Buffer, start = 0, end = source.length): unknown {
  if (end <= start) throw new ProtocolError('empty frame');
  const length = end - start;
  let value: unknown;
  let c1: boolean;
  if (length <= SMALL_FRAME) {
    c1 = false;
    for (let i = 0; i < length; i++) {
      const byte = source[start + i]!;
      if (byte === 0xc1) c1 = true;
      scratch[i] = byte;
    }
    try {
      value = smallUnpackr.unpack(scratch, length);
    } catch (err) {
      throw new ProtocolError(`undecodable MessagePack payload: ${(err as Error).message}`, { cause: err });
    }
  } else {
    try {
      value = unpackr.unpack(source, { start, end });
    } catch (err) {
      throw new ProtocolError(`undecodable MessagePack payload: ${(err as Error).message}`, { cause: err });
    }
    c1 = holdsC1(source, start, end);
  }
  // msgpackr decodes the never-used byte 0xC1 to a marker object instead of failing.
  // Only a payload holding that byte at all can contain it.
  if (c1 && containsC1(value, 0)) throw new ProtocolError('undecodable MessagePack payload: reserved byte 0xc1');
  return value;
}

/**
 * A search for 0xC1 in `c1Source` from `c1From` found it at `c1Next` (-1: nowhere
 * after). Frames of one chunk are decoded in order, so one search usually serves them
 * all and scanning stays linear in the chunk rather than once per frame. Sources are
 * not expected to change between calls (socket chunks and frame buffers never do).
 */
let c1Source: Buffer | undefined;
let c1From = 0;
let c1Next = -1;

function holdsC1(source: Buffer, start: number, end: number): boolean {
  const known = source === c1Source && start >= c1From && (c1Next === -1 || c1Next >= start);
  if (!known) {
    c1Source = source;
    c1From = start;
    c1Next = source.indexOf(0xc1, start);
  }
  return c1Next !== -1 && c1Next < end;
}

function containsC1(value: unknown, depth: number): boolean {
  if (value === C1) return true;
  if (typeof value !== 'object' || value === null || depth > 512 || ArrayBuffer.isView(value)) return false;
  if (Array.isArray(value)) return value.some((v) => containsC1(v, depth + 1));
  if (value instanceof Map) {
    for (const [k, v] of value) if (containsC1(k, depth + 1) || containsC1(v, depth + 1)) return true;
    return false;
  }
  return Object.values(value).some((v) => containsC1(v, depth + 1));
}
