import { Packr, Unpackr, RESERVE_START_SPACE, addExtension } from 'msgpackr';
import { InvalidArgument, ProtocolError } from '../errors.js';
import { HEADER_SIZE } from './frame-decoder.js';
import { checkPayload } from './msgpack-guard.js';

/**
 * Plain, portable MessagePack: no msgpackr records or other private extensions, so any
 * MessagePack library in any language reads what we write. `undefined` becomes nil.
 */
const packrOptions: ConstructorParameters<typeof Packr>[0] = {
  useRecords: false,
  encodeUndefinedAsNil: true,
  // A function has no MessagePack form: msgpackr would send nil in its place, silently.
  // Refuse it: the call is refused with InvalidArgument (or answered with an error reply).
  // (msgpackr calls it with the function; its declarations say no argument.)
  writeFunction(...args: unknown[]): never {
    const name = (args[0] as { name?: string } | undefined)?.name;
    throw new InvalidArgument(`a function${name ? ` (${name})` : ''} cannot be sent`);
  },
};
const packr = new Packr(packrOptions);
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

/** Encode `value` alone (no length prefix): application bytes carried inside another format's field. */
export function packValue(value: unknown): Buffer {
  return packr.pack(value);
}

/**
 * Frames up to this many bytes are decoded from a copy at the start of `scratch`.
 * msgpackr (2.1.3) decodes the strings of a value through its native extractor unless
 * the value *ends* within the first 140 bytes of its buffer (unpack.js, `srcEnd < 140`),
 * so a small frame decoded in place behind others in a socket chunk paid a call into
 * C++ per frame: 460–580 ns per small CALL or RESULT frame in place, 300–330 ns from
 * the copy.
 */
const SMALL_FRAME = 128;
const scratch = Buffer.allocUnsafe(SMALL_FRAME);
/** For frames in `scratch`, which the next frame overwrites: `bin` values are copied out. */
const smallUnpackr = new Unpackr({ useRecords: false, int64AsType: 'auto' as 'number', copyBuffers: true });

/**
 * Decode `source[start, end)`, which must hold exactly one MessagePack value, after the
 * structure scanner (msgpack-guard.ts) has passed it: well-formed, no 0xC1, no extension
 * type but the timestamp (msgpackr would build records, shared and cyclic references from
 * its private ones), at most the default number of elements and levels of nesting.
 * A FrameDecoder scans every payload it delivers, under its own limits: decode those with
 * `decodeScanned`, which does not scan again.
 */
export function unpackPayload(source: Buffer, start = 0, end = source.length): unknown {
  if (end > start) checkPayload(source, start, end);
  return decodeScanned(source, start, end);
}

/**
 * Decode a payload a FrameDecoder delivered (so scanned already). Large payloads are
 * decoded in place (rather than from a view per frame), which lets msgpackr reuse its
 * DataView for every frame of a socket chunk; their `bin` values are views into
 * `source`. Payloads of up to 128 bytes are decoded from a copy (see SMALL_FRAME), so
 * their `bin` values are copies and never keep a socket chunk alive.
 */
export function decodeScanned(source: Buffer, start: number, end: number): unknown {
  if (end <= start) throw new ProtocolError('empty frame');
  const length = end - start;
  try {
    if (length <= SMALL_FRAME) {
      for (let i = 0; i < length; i++) scratch[i] = source[start + i]!;
      return smallUnpackr.unpack(scratch, length);
    }
    return unpackr.unpack(source, { start, end });
  } catch (err) {
    throw new ProtocolError(`undecodable MessagePack payload: ${(err as Error).message}`, { cause: err });
  }
}
