/** The connect step shared by every transport: timeout, abort, and error mapping. */
import net from 'node:net';
import { ConnectionFailed, ConnectionTimeout, InvalidOption, type TransportError } from '../errors.js';
import { errorCode } from '../util/error-code.js';
import { errorMessage } from '../util/error-message.js';
import { DEFAULT_CONNECT_TIMEOUT, type ConnectOptions } from './transport.js';

// setTimeout overflows to 1 ms above this.
const MAX_TIMER = 2 ** 31 - 1;

/** The error for a timeout option that is not a positive number of ms (or Infinity), else undefined. */
export function invalidTimeout(name: string, value: unknown): InvalidOption | undefined {
  if (typeof value === 'number' && !Number.isNaN(value) && value > 0) return undefined;
  return new InvalidOption(`${name} must be a positive number of ms or Infinity, got ${String(value)}`);
}

/**
 * Connects and resolves once the socket is connected (with Nagle disabled).
 * Rejects with ConnectionFailed / ConnectionTimeout, or with `signal.reason` on abort;
 * the socket is destroyed on every failure.
 */
export function connectSocket(target: net.NetConnectOpts, url: string, options: ConnectOptions = {}): Promise<net.Socket> {
  const timeout = options.timeout ?? DEFAULT_CONNECT_TIMEOUT;
  const bad = invalidTimeout('connect timeout', timeout);
  if (bad !== undefined) return Promise.reject(bad);
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);

  return new Promise((resolve, reject) => {
    let socket: net.Socket;
    try {
      socket = net.connect(target);
    } catch (err) {
      reject(new ConnectionFailed(`cannot connect to ${url}: ${errorMessage(err)}`, { cause: err }));
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const cleanup = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (err: unknown): void => {
      cleanup();
      // A late error from the half-made socket must not become an unhandled 'error'.
      socket.on('error', () => {});
      socket.destroy();
      reject(err);
    };
    const onConnect = (): void => {
      cleanup();
      socket.setNoDelay(true);
      resolve(socket);
    };
    const onError = (err: Error): void => fail(connectError(err, url));
    const onAbort = (): void => fail(signal?.reason);

    socket.once('connect', onConnect);
    socket.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (Number.isFinite(timeout)) {
      timer = setTimeout(
        () => fail(new ConnectionTimeout(`connecting to ${url} timed out after ${timeout} ms`)),
        Math.min(timeout, MAX_TIMER),
      );
    }
  });
}

/** Maps a Node connect error to a wirecall error that names the endpoint and keeps the cause. */
export function connectError(err: Error, url: string): TransportError {
  const code = errorCode(err);
  const cause = { cause: err };
  switch (code) {
    case 'ECONNREFUSED':
      return new ConnectionFailed(`connection refused by ${url} (nothing is listening there)`, cause);
    case 'ENOENT':
      return new ConnectionFailed(`no server at ${url} (the socket file does not exist)`, cause);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME': {
      const host = (err as { hostname?: string }).hostname;
      const temporary = code === 'EAI_AGAIN' ? ' (temporary DNS failure)' : '';
      return new ConnectionFailed(`cannot resolve host ${host ? `"${host}" ` : ''}for ${url}${temporary}`, cause);
    }
    case 'EACCES':
    case 'EPERM':
      return new ConnectionFailed(`permission denied connecting to ${url}`, cause);
    case 'EAGAIN':
      return new ConnectionFailed(`${url} is not accepting connections (its backlog is full)`, cause);
    case 'ETIMEDOUT':
      return new ConnectionTimeout(`connecting to ${url} timed out (${code})`, cause);
    default:
      return new ConnectionFailed(`cannot connect to ${url}: ${errorMessage(err)}`, cause);
  }
}
