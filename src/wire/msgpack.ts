import { Packr, Unpackr, RESERVE_START_SPACE } from 'msgpackr';
import { ProtocolError } from '../errors.js';
import { HEADER_SIZE } from './frame-decoder.js';

/**
 * Plain, portable MessagePack: no msgpackr records or other private extensions, so any
 * MessagePack library in any language reads what we write. `undefined` becomes nil.
 */
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });
const unpackr = new Unpackr({ useRecords: false });

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
  try {
    return unpackr.unpack(payload);
  } catch (err) {
    throw new ProtocolError(`undecodable MessagePack payload: ${(err as Error).message}`, { cause: err });
  }
}
