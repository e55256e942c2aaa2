/**
 * The frames a connection sends once it is open, by meaning rather than by layout: the
 * parts (calls, streams, the watchdog) ask for "a RESULT for call 7" and the
 * connection's dialect builds it. The native dialect is encode.ts as it is; the
 * dcc-mcp-core envelope (dcc-mcp-bridge.ts) maps the same requests onto its own ids and
 * byte fields, DCC-Link (dcc-link-bridge.ts) onto its seqs and bodies. Handshake frames
 * are native only and stay in encode.ts.
 */
import type { Dialect } from '../wire/detect-dialect.js';
import {
  HEARTBEAT_PING,
  encodeCall,
  encodeCancel,
  encodeError,
  encodeNotify,
  encodePing,
  encodePong,
  encodeResult,
  encodeShutdown,
} from '../wire/encode.js';
import type { ErrorBody } from '../wire/native.js';

export interface Frames {
  readonly dialect: Dialect;
  /** A call of ours; throws what encoding `params` throws. */
  call(id: number, method: string, params: unknown, timeoutMs: number | null): Buffer;
  /** The answer to the peer's call `id`; throws what encoding `value` throws. */
  result(id: number, value: unknown): Buffer;
  error(id: number, status: number, body: ErrorBody): Buffer;
  /** Tell the peer we gave up on call `id`; null when the dialect has no way to. */
  cancel(id: number): Buffer | null;
  notify(method: string, params: unknown): Buffer;
  ping(nonce: number): Buffer;
  /** The heartbeat's ping, whose answer nobody waits for. */
  heartbeat(): Buffer;
  pong(nonce: number): Buffer;
  shutdown(reason: string | null): Buffer;
}

export const nativeFrames: Frames = {
  dialect: 'wirecall',
  call: encodeCall,
  result: encodeResult,
  error: encodeError,
  cancel: encodeCancel,
  notify: encodeNotify,
  ping: encodePing,
  heartbeat: () => HEARTBEAT_PING,
  pong: encodePong,
  shutdown: encodeShutdown,
};
