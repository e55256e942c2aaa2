/**
 * One function per native message, each returning the complete frame (length prefix
 * included). Nothing outside src/wire builds a frame: the layouts live here and in
 * native.ts, where they are checked on the way in.
 *
 * Application values (params, results, stream messages, error data) may fail to encode;
 * those functions throw what msgpackr throws and the caller decides what that means.
 */
import { HEADER_SIZE } from './frame-decoder.js';
import { packFrame } from './msgpack.js';
import { MAX_UINT32, MessageType, type ErrorBody, type Hello, type StreamKind, type Welcome } from './native.js';

/** Payload bytes of a frame built here: what a peer's `maxFrameSize` is compared with. */
export function payloadSize(frame: Buffer): number {
  return frame.length - HEADER_SIZE;
}

/**
 * A timeout as the uint32 wire field: whole ms, rounded up (a deadline is never brought
 * forward), and at most 2^32 - 1 ms (about 49 days) for anything longer.
 */
export function wireTimeout(ms: number | undefined): number | null {
  return ms === undefined ? null : Math.min(MAX_UINT32, Math.ceil(ms));
}

export const encodeHello = (hello: Hello): Buffer => packFrame([MessageType.HELLO, hello]);
export const encodeWelcome = (welcome: Welcome): Buffer => packFrame([MessageType.WELCOME, welcome]);
export const encodeReject = (reason: string, message: string): Buffer => packFrame([MessageType.REJECT, reason, message]);

export const encodeCall = (id: number, method: string, params: unknown, timeoutMs: number | null): Buffer =>
  packFrame([MessageType.CALL, id, method, params, timeoutMs]);
export const encodeResult = (id: number, value: unknown): Buffer => packFrame([MessageType.RESULT, id, value]);
export const encodeError = (id: number, status: number, body: ErrorBody): Buffer => packFrame([MessageType.ERROR, id, status, body]);
export const encodeCancel = (id: number): Buffer => packFrame([MessageType.CANCEL, id]);
export const encodeNotify = (method: string, params: unknown): Buffer => packFrame([MessageType.NOTIFY, method, params]);

export const encodeStreamOpen = (
  id: number,
  method: string,
  params: unknown,
  timeoutMs: number | null,
  kind: StreamKind,
  window: { messages: number; bytes: number },
): Buffer => packFrame([MessageType.STREAM_OPEN, id, method, params, timeoutMs, kind, window.messages, window.bytes]);
export const encodeCallerMessage = (id: number, value: unknown): Buffer => packFrame([MessageType.CALLER_MESSAGE, id, value]);
export const encodeHandlerMessage = (id: number, value: unknown): Buffer => packFrame([MessageType.HANDLER_MESSAGE, id, value]);
export const encodeCallerEnd = (id: number): Buffer => packFrame([MessageType.CALLER_END, id]);
export const encodeCallerCredit = (id: number, messages: number, bytes: number): Buffer =>
  packFrame([MessageType.CALLER_CREDIT, id, messages, bytes]);
export const encodeHandlerCredit = (id: number, messages: number, bytes: number): Buffer =>
  packFrame([MessageType.HANDLER_CREDIT, id, messages, bytes]);

/** The heartbeat PING; round-trip pings carry their own nonce. */
export const HEARTBEAT_PING: Buffer = packFrame([MessageType.PING, 0]);
export const encodePing = (nonce: number): Buffer => packFrame([MessageType.PING, nonce]);
export const encodePong = (nonce: number): Buffer => packFrame([MessageType.PONG, nonce]);
export const encodeShutdown = (reason: string | null): Buffer => packFrame([MessageType.SHUTDOWN, reason]);
