/**
 * What the four systems of the spec suite (issue 4) have in common: the messages they
 * exchange, and the client/server interfaces every system implements.
 *
 * - unary: `echo(PARAMS)` returns its argument;
 * - streams: the server sends `count` messages for one request, `small` (SMALL_MESSAGE,
 *   ~50 bytes in MessagePack) or `chunks` (64 KiB of payload each).
 */
import { payload } from '../lib/inputs.js';
import type { RunMetrics } from '../lib/stats.js';

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

/** Messages per stream request: a run is a sequence of such streams. */
export const STREAM_COUNT: Record<StreamKind, number> = { small: 10_000, chunks: 128 };

export interface SystemServer {
  /** How this system's client reaches the server (format private to the system). */
  endpoint: string;
  close(): Promise<void>;
}

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

/** The scenarios of issue 4, by the names used in the JSON. */
export type SpecScenario = 'unary-c1' | 'unary-c256' | 'stream-small' | 'stream-64k';
export const SPEC_SCENARIOS: readonly SpecScenario[] = ['unary-c1', 'unary-c256', 'stream-small', 'stream-64k'];

/** Parent → client process (bench/spec-child.ts). */
export interface ClientRequest {
  id: number;
  op: 'open' | 'run' | 'warm' | 'close';
  endpoint?: string;
  scenario?: SpecScenario;
  ms?: number;
  maxOps?: number;
}

/** Client process → parent. */
export interface ClientReply {
  id: number;
  ok: boolean;
  metrics?: RunMetrics;
  /** The system cannot run this scenario: why. */
  unsupported?: string;
  error?: string;
}
