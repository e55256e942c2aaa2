/**
 * The dcc-mcp envelope's encoder, written by hand (see dcc-mcp-messages.ts for why):
 * smallest integer encodings, ids as bin 16, byte fields as arrays of integers, nil kept.
 */
import { ProtocolError } from '../errors.js';
import { HEADER_SIZE } from './frame-decoder.js';
import { DCC_MCP_MAX_FRAME_SIZE, uuidToBytes, type DccMcpMessage, type DccMcpMessageType, type EnvelopeId } from './dcc-mcp-messages.js';

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

