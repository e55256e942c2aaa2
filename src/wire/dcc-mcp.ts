import { randomUUID } from 'node:crypto';
import { ProtocolError } from '../errors.js';
import type { Dialect } from './dialect.js';
import { HEADER_SIZE } from './frame-decoder.js';
import { DEFAULT_MAX_MESSAGE_ELEMENTS, checkPayload } from './msgpack-guard.js';
import { decodeScanned } from './msgpack.js';

/**
 * The envelope of dcc-mcp-core 0.12.3–0.13.6 (issue 12; docs/DCC-MCP.md byte by byte).
 *
 * Framing is the same as wirecall's: `[u32 BE payload length][MessagePack payload]`. The
 * payload is a positional MessagePack array whose element 0 is the type string:
 *
 *     ["request",  id, method, params]
 *     ["response", id, success, payload, error]
 *     ["ping",     id, timestamp_ms]
 *     ["pong",     id, timestamp_ms]
 *     ["notify",   id | nil, topic, data]
 *     ["shutdown", reason | nil]
 *
 * Its quirks, kept exactly: ids are `bin 8` of length 16 (the RFC 4122 bytes of a UUID);
 * the byte fields (params, payload, data) are written as arrays of integers, because its
 * decoder rejects `bin` there (both forms are accepted on input); nil is never omitted;
 * integers use the smallest encoding (so a millisecond timestamp is `uint 64`, `cf`).
 *
 * The encoder is written by hand rather than with msgpackr: msgpackr writes a JS number
 * above 2^32 as `float 64` and a BigInt as `int 64` (`d3`), neither of which is the
 * `uint 64` the peer writes, and it would write Buffers as `bin`. Decoding goes through
 * the project's MessagePack path (structure scanner, then msgpackr) and a shape check.
 */

/** A UUID in its hyphenated lowercase form, e.g. `00112233-4455-6677-8899-aabbccddeeff`. */
export type EnvelopeId = string;

export interface DccRequest {
  type: 'request';
  id: EnvelopeId;
  method: string;
  /** Opaque bytes (in practice often UTF-8 JSON). */
  params: Buffer;
}
export interface DccResponse {
  type: 'response';
  /** The request's id. */
  id: EnvelopeId;
  success: boolean;
  payload: Buffer;
  error: string | null;
}
export interface DccPing {
  type: 'ping';
  id: EnvelopeId;
  /** Milliseconds since the Unix epoch. */
  timestampMs: number;
}
export interface DccPong {
  type: 'pong';
  /** The ping's id. */
  id: EnvelopeId;
  timestampMs: number;
}
export interface DccNotify {
  type: 'notify';
  id: EnvelopeId | null;
  topic: string;
  data: Buffer;
}
export interface DccShutdown {
  type: 'shutdown';
  reason: string | null;
}

export type DccMcpMessage = DccRequest | DccResponse | DccPing | DccPong | DccNotify | DccShutdown;
export type DccMcpMessageType = DccMcpMessage['type'];

/** dcc-mcp-core rejects frames whose payload is larger than this (256 MiB). */
export const DCC_MCP_MAX_FRAME_SIZE = 256 * 1024 * 1024;

// ------------------------------------------------------------------------------ ids

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A fresh random (v4) envelope id. */
export function newEnvelopeId(): EnvelopeId {
  return randomUUID();
}

/** The 16 bytes of a hyphenated UUID; throws ProtocolError when `id` is not one. */
export function uuidToBytes(id: EnvelopeId): Buffer {
  if (typeof id !== 'string' || !UUID_RE.test(id)) throw new ProtocolError(`invalid envelope id ${JSON.stringify(id)}: expected a hyphenated UUID`);
  return Buffer.from(id.replace(/-/g, ''), 'hex');
}

/** The hyphenated lowercase form of 16 UUID bytes. */
export function bytesToUuid(bytes: Uint8Array): EnvelopeId {
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

// -------------------------------------------------------------------------- encoder

/** Size of the MessagePack encoding of an unsigned integer (smallest form). */
function uintSize(n: number): number {
  return n < 0x80 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : n <= 0xffff_ffff ? 5 : 9;
}

function strHeaderSize(len: number): number {
  return len < 32 ? 1 : len <= 0xff ? 2 : len <= 0xffff ? 3 : 5;
}

function arrayHeaderSize(len: number): number {
  return len < 16 ? 1 : len <= 0xffff ? 3 : 5;
}

/** Bytes written as an array of integers: header, then 1 byte per value < 0x80, 2 above. */
function byteArraySize(bytes: Uint8Array): number {
  let size = arrayHeaderSize(bytes.length) + bytes.length;
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) size++;
  return size;
}

const ID_SIZE = 18; // c4 10 + 16 bytes

/** One field of an envelope, as the encoder sees it. */
type Field =
  | { k: 'str'; v: string; len: number }
  | { k: 'id'; v: Buffer }
  | { k: 'nil' }
  | { k: 'bool'; v: boolean }
  | { k: 'uint'; v: number }
  | { k: 'bytes'; v: Uint8Array };

function str(v: string): Field {
  if (typeof v !== 'string') throw new ProtocolError(`envelope string field is ${typeof v}, expected a string`);
  return { k: 'str', v, len: Buffer.byteLength(v, 'utf8') };
}
function id(v: EnvelopeId): Field {
  return { k: 'id', v: uuidToBytes(v) };
}
function bytes(v: Uint8Array): Field {
  if (!(v instanceof Uint8Array)) throw new ProtocolError('envelope byte field must be a Buffer or Uint8Array');
  return { k: 'bytes', v };
}
function uint(v: number): Field {
  if (!Number.isSafeInteger(v) || v < 0) throw new ProtocolError(`envelope timestamp ${v} is not a non-negative safe integer`);
  return { k: 'uint', v };
}
function optStr(v: string | null): Field {
  return v === null ? { k: 'nil' } : str(v);
}

function fieldSize(f: Field): number {
  switch (f.k) {
    case 'str':
      return strHeaderSize(f.len) + f.len;
    case 'id':
      return ID_SIZE;
    case 'nil':
    case 'bool':
      return 1;
    case 'uint':
      return uintSize(f.v);
    case 'bytes':
      return byteArraySize(f.v);
  }
}

function writeArrayHeader(out: Buffer, at: number, len: number): number {
  if (len < 16) {
    out[at] = 0x90 | len;
    return at + 1;
  }
  if (len <= 0xffff) {
    out[at] = 0xdc;
    out.writeUInt16BE(len, at + 1);
    return at + 3;
  }
  out[at] = 0xdd;
  out.writeUInt32BE(len, at + 1);
  return at + 5;
}

function writeField(out: Buffer, at: number, f: Field): number {
  switch (f.k) {
    case 'str': {
      const len = f.len;
      if (len < 32) out[at++] = 0xa0 | len;
      else if (len <= 0xff) {
        out[at++] = 0xd9;
        out[at++] = len;
      } else if (len <= 0xffff) {
        out[at++] = 0xda;
        out.writeUInt16BE(len, at);
        at += 2;
      } else {
        out[at++] = 0xdb;
        out.writeUInt32BE(len, at);
        at += 4;
      }
      return at + out.write(f.v, at, len, 'utf8');
    }
    case 'id':
      out[at] = 0xc4;
      out[at + 1] = 16;
      f.v.copy(out, at + 2);
      return at + ID_SIZE;
    case 'nil':
      out[at] = 0xc0;
      return at + 1;
    case 'bool':
      out[at] = f.v ? 0xc3 : 0xc2;
      return at + 1;
    case 'uint': {
      const n = f.v;
      if (n < 0x80) out[at++] = n;
      else if (n <= 0xff) {
        out[at++] = 0xcc;
        out[at++] = n;
      } else if (n <= 0xffff) {
        out[at++] = 0xcd;
        out.writeUInt16BE(n, at);
        at += 2;
      } else if (n <= 0xffff_ffff) {
        out[at++] = 0xce;
        out.writeUInt32BE(n, at);
        at += 4;
      } else {
        out[at++] = 0xcf;
        out.writeBigUInt64BE(BigInt(n), at);
        at += 8;
      }
      return at;
    }
    case 'bytes': {
      const v = f.v;
      at = writeArrayHeader(out, at, v.length);
      for (let i = 0; i < v.length; i++) {
        const b = v[i]!;
        if (b >= 0x80) out[at++] = 0xcc;
        out[at++] = b;
      }
      return at;
    }
  }
}

/** A complete frame (length prefix included) holding the array `[type, ...fields]`. */
function envelopeFrame(type: DccMcpMessageType, fields: Field[]): Buffer {
  const all: Field[] = [str(type), ...fields];
  let size = arrayHeaderSize(all.length);
  for (const f of all) size += fieldSize(f);
  if (size > DCC_MCP_MAX_FRAME_SIZE) {
    throw new ProtocolError(`dcc-mcp envelope of ${size} bytes exceeds the peer's limit of ${DCC_MCP_MAX_FRAME_SIZE} bytes`);
  }
  const out = Buffer.allocUnsafe(HEADER_SIZE + size);
  out.writeUInt32BE(size, 0);
  let at = writeArrayHeader(out, HEADER_SIZE, all.length);
  for (const f of all) at = writeField(out, at, f);
  return out;
}

export const encodeDccRequest = (requestId: EnvelopeId, method: string, params: Uint8Array): Buffer =>
  envelopeFrame('request', [id(requestId), str(method), bytes(params)]);

export const encodeDccResponse = (requestId: EnvelopeId, success: boolean, payload: Uint8Array, error: string | null): Buffer =>
  envelopeFrame('response', [id(requestId), { k: 'bool', v: success === true }, bytes(payload), optStr(error)]);

export const encodeDccPing = (pingId: EnvelopeId, timestampMs: number = Date.now()): Buffer =>
  envelopeFrame('ping', [id(pingId), uint(timestampMs)]);

export const encodeDccPong = (pingId: EnvelopeId, timestampMs: number = Date.now()): Buffer =>
  envelopeFrame('pong', [id(pingId), uint(timestampMs)]);

export const encodeDccNotify = (notifyId: EnvelopeId | null, topic: string, data: Uint8Array): Buffer =>
  envelopeFrame('notify', [notifyId === null ? { k: 'nil' } : id(notifyId), str(topic), bytes(data)]);

export const encodeDccShutdown = (reason: string | null): Buffer => envelopeFrame('shutdown', [optStr(reason)]);

/** Any envelope as a complete frame. */
export function encodeDccMcp(m: DccMcpMessage): Buffer {
  switch (m.type) {
    case 'request':
      return encodeDccRequest(m.id, m.method, m.params);
    case 'response':
      return encodeDccResponse(m.id, m.success, m.payload, m.error);
    case 'ping':
      return encodeDccPing(m.id, m.timestampMs);
    case 'pong':
      return encodeDccPong(m.id, m.timestampMs);
    case 'notify':
      return encodeDccNotify(m.id, m.topic, m.data);
    case 'shutdown':
      return encodeDccShutdown(m.reason);
    default:
      throw new ProtocolError(`unknown dcc-mcp envelope type ${JSON.stringify((m as { type: unknown }).type)}`);
  }
}

// -------------------------------------------------------------------------- decoder

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

/** Decode and check the payload `source[start, end)` (no length prefix). */
export function decodeDccMcp(source: Buffer, start = 0, end = source.length): DccMcpMessage {
  if (end > start) checkPayload(source, start, end, dccMcpMaxElements(end - start));
  return validateDccMcpMessage(decodeScanned(source, start, end));
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
  decodeScanned(source: Buffer, start: number, end: number): DccMcpMessage {
    return validateDccMcpMessage(decodeScanned(source, start, end));
  },
};

// ------------------------------------------------------------------------ detection

export type DetectedDialect = 'wirecall' | 'dcc-mcp';

/**
 * The dialect of a connection from its first frame payload `source[start, end)`, read from
 * the bytes without decoding: a native HELLO is an array whose element 0 is the integer 1;
 * a dcc-mcp envelope is an array whose element 0 is a string. Returns null for anything
 * else (including an array starting with another integer: a native peer must begin with
 * HELLO). Only the first bytes are looked at; the chosen dialect's decoder checks the rest.
 */
export function detectDialect(source: Uint8Array, start = 0, end = source.length): DetectedDialect | null {
  let at = start;
  if (at >= end) return null;
  const head = source[at]!;
  if (head >= 0x90 && head <= 0x9f) {
    if (head === 0x90) return null; // empty array
    at += 1;
  } else if (head === 0xdc || head === 0xdd) {
    const n = head === 0xdc ? 3 : 5;
    if (end - at < n) return null;
    let len = 0;
    for (let i = 1; i < n; i++) len = len * 256 + source[at + i]!;
    if (len === 0) return null;
    at += n;
  } else {
    return null;
  }
  if (at >= end) return null;
  const first = source[at]!;
  if ((first >= 0xa0 && first <= 0xbf) || first === 0xd9 || first === 0xda || first === 0xdb) return 'dcc-mcp';
  if (first === 0x01) return 'wirecall';
  // The integer 1 in a wider encoding (uint 8-64 cc-cf, int 8-64 d0-d3): other writers may use one.
  const widths: Record<number, number> = { 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8 };
  const width = widths[first];
  if (width === undefined || end - at < 1 + width) return null;
  for (let i = 1; i < width; i++) if (source[at + i] !== 0) return null;
  return source[at + width] === 1 ? 'wirecall' : null;
}
