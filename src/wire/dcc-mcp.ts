import { ProtocolError } from '../errors.js';
import type { Dialect } from './dialect.js';
import { HEADER_SIZE } from './frame-decoder.js';
import { DEFAULT_MAX_MESSAGE_ELEMENTS, checkPayload } from './msgpack-guard.js';
import { decodeScanned } from './msgpack.js';

import { encodeDccMcp } from './dcc-mcp-encode.js';
import { readDccMcpEnvelope } from './dcc-mcp-read.js';
import { bytesToUuid, type DccMcpMessage, type EnvelopeId } from './dcc-mcp-messages.js';

/**
 * The dcc-mcp-core envelope dialect (0.12.3–0.13.6): the checked decoder and the Dialect.
 * The messages and ids are in dcc-mcp-messages.ts, the encoder in dcc-mcp-encode.ts; this
 * module is their face, so users import from here.
 */
export {
  DCC_MCP_MAX_FRAME_SIZE,
  bytesToUuid,
  newEnvelopeId,
  uuidToBytes,
  type DccMcpMessage,
  type DccMcpMessageType,
  type DccNotify,
  type DccPing,
  type DccPong,
  type DccRequest,
  type DccResponse,
  type DccShutdown,
  type DetectedDialect,
  type EnvelopeId,
} from './dcc-mcp-messages.js';
export {
  encodeDccMcp,
  encodeDccNotify,
  encodeDccPing,
  encodeDccPong,
  encodeDccRequest,
  encodeDccResponse,
  encodeDccShutdown,
} from './dcc-mcp-encode.js';

function bad(type: string, what: string): never {
  throw new ProtocolError(`malformed dcc-mcp "${type}" envelope: ${what}`);
}

function checkId(type: string, field: string, v: unknown): EnvelopeId {
  if (!(v instanceof Uint8Array)) bad(type, `${field} must be bin of 16 bytes (a UUID), got ${describe(v)}`);
  if (v.length !== 16) bad(type, `${field} must be bin of 16 bytes (a UUID), got ${v.length} bytes`);
  return bytesToUuid(v);
}

/** A byte field: `bin` (as we might receive it from a lenient peer) or an array of u8. */
function checkBytes(type: string, field: string, v: unknown): Buffer {
  if (v instanceof Uint8Array) return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (!Array.isArray(v)) bad(type, `${field} must be an array of integers 0-255 (or bin), got ${describe(v)}`);
  const out = Buffer.allocUnsafe(v.length);
  for (let i = 0; i < v.length; i++) {
    const b: unknown = v[i];
    if (typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b > 255) {
      bad(type, `${field}[${i}] must be an integer 0-255, got ${describe(b)}`);
    }
    out[i] = b;
  }
  return out;
}

function checkStr(type: string, field: string, v: unknown): string {
  if (typeof v !== 'string') bad(type, `${field} must be a string, got ${describe(v)}`);
  return v;
}

function checkOptStr(type: string, field: string, v: unknown): string | null {
  if (v !== null && typeof v !== 'string') bad(type, `${field} must be a string or nil, got ${describe(v)}`);
  return v;
}

function checkTimestamp(type: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    bad(type, `timestamp_ms must be a non-negative integer below 2^53, got ${describe(v)}`);
  }
  return v;
}

function checkLength(type: string, m: unknown[], n: number): void {
  if (m.length !== n) bad(type, `expected ${n} elements, got ${m.length}`);
}

function describe(v: unknown): string {
  if (v === null) return 'nil';
  if (v instanceof Uint8Array) return `bin of ${v.length} bytes`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  return typeof v;
}

/** Check the shape of a decoded payload; returns the envelope, or throws ProtocolError. */
export function validateDccMcpMessage(m: unknown): DccMcpMessage {
  if (!Array.isArray(m) || m.length === 0 || typeof m[0] !== 'string') {
    throw new ProtocolError(`frame is not a dcc-mcp envelope (expected an array starting with a type string, got ${describe(m)})`);
  }
  const type = m[0];
  switch (type) {
    case 'request':
      checkLength(type, m, 4);
      return { type, id: checkId(type, 'id', m[1]), method: checkStr(type, 'method', m[2]), params: checkBytes(type, 'params', m[3]) };
    case 'response':
      checkLength(type, m, 5);
      if (typeof m[2] !== 'boolean') bad(type, `success must be a boolean, got ${describe(m[2])}`);
      return {
        type,
        id: checkId(type, 'id', m[1]),
        success: m[2],
        payload: checkBytes(type, 'payload', m[3]),
        error: checkOptStr(type, 'error', m[4]),
      };
    case 'ping':
    case 'pong':
      checkLength(type, m, 3);
      return { type, id: checkId(type, 'id', m[1]), timestampMs: checkTimestamp(type, m[2]) };
    case 'notify':
      checkLength(type, m, 4);
      return {
        type,
        id: m[1] === null ? null : checkId(type, 'id', m[1]),
        topic: checkStr(type, 'topic', m[2]),
        data: checkBytes(type, 'data', m[3]),
      };
    case 'shutdown':
      checkLength(type, m, 2);
      return { type, reason: checkOptStr(type, 'reason', m[1]) };
    default:
      throw new ProtocolError(`unknown dcc-mcp envelope type ${JSON.stringify(type.length > 40 ? `${type.slice(0, 40)}…` : type)}`);
  }
}

/**
 * The element limit for a dcc-mcp payload. Its byte fields are arrays of integers, one
 * element per byte, so the project's default (100 000 elements, sized for arbitrary
 * values) would refuse any params above ~100 KB. Every element takes at least one byte,
 * so allowing as many elements as the payload has bytes bounds nothing new beyond the
 * frame size; the decoded value is still a tree (no extension types pass the scanner).
 * A FrameDecoder that delivers dcc-mcp frames needs the same limit.
 */
export function dccMcpMaxElements(payloadSize: number): number {
  return Math.max(DEFAULT_MAX_MESSAGE_ELEMENTS, payloadSize);
}

/** A scanned payload: read directly when it has the plain layout, else decoded and checked (the precise errors). */
function decodeCheckedEnvelope(source: Buffer, start: number, end: number): DccMcpMessage {
  return readDccMcpEnvelope(source, start, end) ?? validateDccMcpMessage(decodeScanned(source, start, end));
}

/** Decode and check the payload `source[start, end)` (no length prefix). */
export function decodeDccMcp(source: Buffer, start = 0, end = source.length): DccMcpMessage {
  if (end > start) checkPayload(source, start, end, dccMcpMaxElements(end - start));
  return decodeCheckedEnvelope(source, start, end);
}

/** Decode a complete frame (length prefix included, exactly one frame). */
export function decodeDccMcpFrame(frame: Buffer): DccMcpMessage {
  if (frame.length < HEADER_SIZE) throw new ProtocolError(`dcc-mcp frame of ${frame.length} bytes is shorter than its length prefix`);
  const length = frame.readUInt32BE(0);
  if (length !== frame.length - HEADER_SIZE) {
    throw new ProtocolError(`dcc-mcp frame length prefix says ${length} bytes, the frame holds ${frame.length - HEADER_SIZE}`);
  }
  return decodeDccMcp(frame, HEADER_SIZE, frame.length);
}

export const dccMcpDialect: Dialect<DccMcpMessage> = {
  name: 'dcc-mcp/0.13',
  encode: encodeDccMcp,
  decode: decodeDccMcp,
  decodeScanned: decodeCheckedEnvelope,
};

