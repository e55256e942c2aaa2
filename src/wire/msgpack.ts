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
 * `bin`, which every MessagePack reader understands. This registration is
 * process-wide for msgpackr; an extension without a `type` adds no extension type.
 */
const VIEW_CLASSES = [
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
  DataView,
];
for (const Class of VIEW_CLASSES) {
  addExtension({
    Class,
    write: (view: ArrayBufferView) => Buffer.from(view.buffer, view.byteOffset, view.byteLength),
  } as unknown as Parameters<typeof addExtension>[0]);
}

/** Space reserved in front of the encoding for the length prefix: no copy per frame. */
const RESERVE_PREFIX = RESERVE_START_SPACE | HEADER_SIZE;

/** Encode `value` as one complete frame: 4-byte big-endian length, then the MessagePack. */
export function packFrame(value: unknown): Buffer {
  const frame = packr.pack(value, RESERVE_PREFIX);
  frame.writeUInt32BE(frame.length - HEADER_SIZE, 0);
  return frame;
}

/** Decode one payload holding exactly one MessagePack value. */
export function unpackPayload(payload: Buffer): unknown {
  if (payload.length === 0) throw new ProtocolError('empty frame');
  let value: unknown;
  try {
    value = unpackr.unpack(payload);
  } catch (err) {
    throw new ProtocolError(`undecodable MessagePack payload: ${(err as Error).message}`, { cause: err });
  }
  // msgpackr decodes the never-used byte 0xC1 to a marker object instead of failing.
  // Only a payload holding that byte at all can contain it, and memchr is cheap.
  if (payload.includes(0xc1) && containsC1(value, 0)) throw new ProtocolError('undecodable MessagePack payload: reserved byte 0xc1');
  return value;
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
