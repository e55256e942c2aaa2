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
  return dial(() => net.connect(target), url, options, { ready: 'connect', error: (err) => connectError(err, url) });
}

/** What sets one kind of connect apart (TLS: a second phase after the TCP connect). */
export interface DialSteps {
  /** The event that resolves: 'connect', or 'secureConnect' after a TLS handshake. */
  ready: 'connect' | 'secureConnect';
  /** The rejection for an 'error' event; `connected`: the TCP connect had succeeded. */
  error(err: Error, connected: boolean): unknown;
  /** At the TCP connect, when `ready` is later: re-arm the time limit for the next phase. */
  afterConnect?(arm: (ms: number, make: () => Error) => void): void;
  /** The rejection for a 'close' before `ready` (unwatched when absent). */
  closed?(): unknown;
}

/**
 * Makes the socket and waits for `steps.ready` within `options.timeout`, honouring
 * `options.signal`: every failure destroys the socket and rejects with a typed error.
 */
export function dial<S extends net.Socket>(create: () => S, url: string, options: ConnectOptions, steps: DialSteps): Promise<S> {
  const timeout = options.timeout ?? DEFAULT_CONNECT_TIMEOUT;
  const bad = invalidTimeout('connect timeout', timeout);
  if (bad !== undefined) return Promise.reject(bad);
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);

  return new Promise((resolve, reject) => {
    let socket: S;
    try {
      socket = create();
    } catch (err) {
      reject(new ConnectionFailed(`cannot connect to ${url}: ${errorMessage(err)}`, { cause: err }));
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    let connected = false;
    const arm = (ms: number, make: () => Error): void => {
      clearTimeout(timer);
      if (Number.isFinite(ms)) timer = setTimeout(() => fail(make()), Math.min(ms, MAX_TIMER));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off(steps.ready, onReady);
      socket.off('error', onError);
      socket.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (err: unknown): void => {
      cleanup();
      // A late error from the half-made socket must not become an unhandled 'error'.
      socket.on('error', () => {});
      socket.destroy();
      reject(err);
    };
    const onReady = (): void => {
      cleanup();
      resolve(socket);
    };
    const onConnect = (): void => {
      connected = true;
      socket.setNoDelay(true);
      if (steps.ready === 'connect') onReady();
      else steps.afterConnect?.(arm);
    };
    const onError = (err: Error): void => fail(steps.error(err, connected));
    const onClose = (): void => fail(steps.closed!());
    const onAbort = (): void => fail(signal?.reason);

    socket.once('connect', onConnect);
    if (steps.ready !== 'connect') socket.once(steps.ready, onReady);
    socket.once('error', onError);
    if (steps.closed !== undefined) socket.once('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
    arm(timeout, () => new ConnectionTimeout(`connecting to ${url} timed out after ${timeout} ms`));
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
