/**
 * What the four systems of the spec suite (issue 4) have in common: the messages they
 * exchange, and the client/server interfaces every system implements.
 *
 * - unary: `echo(PARAMS)` returns its argument;
 * - streams: the server sends `count` messages for one request, `small` (smallMessage(seq),
 *   ~50 bytes in MessagePack) or `chunks` (64 KiB of payload each).
 */
import { payload } from '../lib/inputs.js';
import type { Listener } from '../lib/sockets.js';

export type SystemName = 'raw' | 'wirecall' | 'grpc-js' | 'vscode-jsonrpc';
export const SYSTEMS: readonly SystemName[] = ['raw', 'wirecall', 'grpc-js', 'vscode-jsonrpc'];

export type StreamKind = 'small' | 'chunks';

/** The argument of every unary call (issue 4: `{"x":1,"name":"hello"}`). */
export const PARAMS = Object.freeze({ x: 1, name: 'hello' });

/** One message of the `small` stream: 50–52 bytes of MessagePack (59–62 as JSON). */
export function smallMessage(seq: number): { seq: number; name: string; data: string } {
  return { seq, name: 'tick', data: 'abcdefghijklmnopqrstuvwxyz' };
}

/** Payload bytes of one `chunks` message. */
export const CHUNK_SIZE = 64 * 1024;

/** The chunk every binary system sends (a Buffer; each message encodes it again). */
export const CHUNK: Buffer = payload(CHUNK_SIZE);

/** JSON has no binary type: vscode-jsonrpc sends a 64 KiB ASCII string instead. */
export const CHUNK_TEXT: string = 'abcdefghijklmnopqrstuvwxyz012345'.repeat(CHUNK_SIZE / 32);

/** A system's server; the endpoint's format is private to the system. */
export type SystemServer = Listener;

export interface ServerOptions {
  /** wirecall only: raise maxConcurrentCalls for the memory test (10 000 held calls). */
  maxConcurrentCalls?: number;
}

export interface SystemClient {
  /** One `echo(PARAMS)` round trip. */
  unary(): Promise<unknown>;
  /**
   * Ask for a stream of `count` messages and consume it; resolves with the number of
   * messages received (checked against `count` by the caller). Absent when the system
   * cannot stream (see `streamUnsupported`).
   */
  stream?: (kind: StreamKind, count: number) => Promise<number>;
  /** Why `stream` is absent. */
  streamUnsupported?: string;
  close(): Promise<void>;
}
