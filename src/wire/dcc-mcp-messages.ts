import { randomUUID } from 'node:crypto';
import { ProtocolError } from '../errors.js';

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

/** Which protocol a connection's first frame speaks (detect-dialect.ts). */
export type DetectedDialect = 'wirecall' | 'dcc-mcp';
