/**
 * Errors ⇄ the ERROR message's body: what a handler's failure looks like on the wire,
 * and what an ERROR becomes for the caller (docs/PROTOCOL.md section 7).
 */
import { DeadlineExceeded, RemoteError, WirecallError } from '../errors.js';
import { Status } from '../status.js';
import { payloadSize } from '../wire/encode.js';
import type { ErrorBody } from '../wire/native.js';
import type { Frames } from './frames.js';
import type { MethodKind } from './handlers.js';

/** An ERROR from the peer, as the error the caller's promise rejects with. */
export function errorFromBody(status: number, body: ErrorBody): WirecallError {
  if (status === Status.DEADLINE_EXCEEDED) return new DeadlineExceeded(body.message);
  return new RemoteError(status as Status, body.message, {
    remoteName: body.name,
    remoteCode: body.code ?? undefined,
    data: body.data ?? undefined,
    remoteStack: body.stack ?? undefined,
  });
}

/** What a handler's failure looks like on the wire. */
export function errorToBody(err: unknown, exposeStack: boolean): [number, ErrorBody] {
  if (err instanceof RemoteError) {
    const body: ErrorBody = { name: err.remoteName, message: err.message };
    if (err.remoteCode !== undefined) body.code = err.remoteCode;
    if (err.data !== undefined) body.data = err.data;
    if (exposeStack && err.stack) body.stack = err.stack;
    return [err.status, body];
  }
  if (err instanceof Error) {
    const body: ErrorBody = { name: err.name, message: err.message };
    const extra = err as Error & { code?: unknown; data?: unknown };
    if (typeof extra.code === 'string') body.code = extra.code;
    if (extra.data !== undefined) body.data = extra.data;
    if (exposeStack && err.stack) body.stack = err.stack;
    const status = err instanceof WirecallError && 'status' in err && err.status === Status.INVALID_ARGUMENT ? Status.INVALID_ARGUMENT : Status.METHOD_ERROR;
    return [status, body];
  }
  return [Status.METHOD_ERROR, { name: 'Error', message: String(err) }];
}

/**
 * The ERROR frame for `body`, made to fit: without `data` and `stack` if the body cannot
 * be encoded, with the message cut to 1024 characters if it is over the peer's limit.
 */
export function errorFrame(frames: Frames, id: number, status: number, body: ErrorBody, peerMaxFrameSize: number): Buffer {
  let frame: Buffer;
  try {
    frame = frames.error(id, status, body);
  } catch {
    frame = frames.error(id, status, { name: body.name, message: body.message, code: body.code });
  }
  if (payloadSize(frame) > peerMaxFrameSize) frame = frames.error(id, status, { name: body.name, message: body.message.slice(0, 1024) });
  return frame;
}

const KIND_HINT: Record<MethodKind, string> = {
  unary: 'call()',
  'server-stream': 'stream()',
  'client-stream': 'clientStream()',
  'bidi-stream': 'bidiStream()',
};

/** METHOD_NOT_FOUND's body: no such method, or one of another kind (with how to call it). */
export function notFoundBody(method: string, found: MethodKind | undefined, wanted: MethodKind): ErrorBody {
  if (found === undefined) return { name: 'MethodNotFound', message: `method not found: ${method}` };
  return {
    name: 'MethodNotFound',
    message: `${method} is a ${found} method, not a ${wanted} one; open it with ${KIND_HINT[found]}`,
  };
}

/** The body of a DEADLINE_EXCEEDED answer. */
export function deadlineBody(method: string): ErrorBody {
  return { name: 'DeadlineExceeded', message: `deadline of ${method} passed` };
}
