/**
 * Where each message of an open connection goes: one switch from the message type to
 * the part that handles it. Answers (RESULT, ERROR) and CANCEL are tried on calls
 * first, then on streams, since both share one id space per direction.
 */
import { MessageType, type NativeMessage } from '../wire/native.js';
import type { IncomingCalls } from './incoming-calls.js';
import type { OutgoingCalls } from './outgoing-calls.js';
import type { Streams } from './streams.js';
import type { Watchdog } from './watchdog.js';

export interface DispatchTargets {
  readonly outgoing: OutgoingCalls;
  readonly incoming: IncomingCalls;
  readonly streams: Streams;
  readonly watchdog: Watchdog;
  /** Answer a PING. */
  pong(nonce: number): void;
  /** The peer is shutting down (SHUTDOWN, with its reason or null). */
  shutdown(reason: string | null): void;
  /** A message type that has no place after the handshake. */
  unexpected(type: number): void;
}

/**
 * Route `m`; `frameSize` is its payload size (stream credit is counted in it). Params
 * that are nil on the wire (a call without params: MessagePack has no undefined) reach
 * handlers as `undefined`, what their types say and what `({ a } = {}) =>` expects.
 */
export function dispatch(m: NativeMessage, frameSize: number, to: DispatchTargets): void {
  const streams = to.streams;
  switch (m[0]) {
    case MessageType.CALL:
      return to.incoming.onCall(m[1], m[2], m[3] ?? undefined, m[4]);
    case MessageType.RESULT:
      if (!to.outgoing.onResult(m[1], m[2])) streams.onResult(m[1], m[2]);
      return;
    case MessageType.ERROR:
      if (!to.outgoing.onError(m[1], m[2], m[3])) streams.onError(m[1], m[2], m[3]);
      return;
    case MessageType.CANCEL:
      if (!to.incoming.onCancel(m[1])) streams.onCancel(m[1]);
      return;
    case MessageType.STREAM_OPEN:
      return streams.onOpen(m[1], m[2], m[3] ?? undefined, m[4], m[5], { messages: m[6], bytes: m[7] });
    case MessageType.CALLER_MESSAGE:
      return streams.onCallerMessage(m[1], m[2], frameSize);
    case MessageType.HANDLER_MESSAGE:
      return streams.onHandlerMessage(m[1], m[2], frameSize);
    case MessageType.CALLER_END:
      return streams.onCallerEnd(m[1]);
    case MessageType.CALLER_CREDIT:
      return streams.onCallerCredit(m[1], m[2], m[3]);
    case MessageType.HANDLER_CREDIT:
      return streams.onHandlerCredit(m[1], m[2], m[3]);
    case MessageType.NOTIFY:
      return to.incoming.onNotify(m[1], m[2] ?? undefined);
    case MessageType.PING:
      return to.pong(m[1]);
    case MessageType.PONG:
      return to.watchdog.onPong(m[1]);
    case MessageType.SHUTDOWN:
      return to.shutdown(m[1]);
    default:
      return to.unexpected(m[0]);
  }
}
