/** The transport interface: something that can listen on and connect to an Endpoint. */
import type { Socket } from 'node:net';
import type { Endpoint } from './endpoint.js';

export interface ConnectOptions {
  /** Milliseconds before the connect fails with ConnectionTimeout; default 10_000, Infinity disables. */
  timeout?: number;
  /** Aborting rejects the connect with `signal.reason` (an AbortError DOMException unless you pass one). */
  signal?: AbortSignal;
}

export interface ListenOptions {
  onConnection: (socket: Socket) => void;
  /** Unix only: 0o600 (default) or 0o660 (opt-in, group access). */
  socketMode?: 0o600 | 0o660;
  backlog?: number;
  /**
   * Errors after the listener is up (e.g. a failed accept). Default: ignored, so one bad
   * accept cannot crash the process; the listener keeps serving.
   */
  onError?: (error: Error) => void;
}

export interface Listener {
  /** What was actually bound (real port for port 0, absolute path). */
  readonly endpoint: Endpoint;
  /** formatEndpoint(endpoint). */
  readonly url: string;
  /**
   * Idempotent; stops accepting and removes the socket file. Does NOT destroy sockets
   * already handed to onConnection (the caller owns them).
   */
  close(): Promise<void>;
}

export interface Transport {
  readonly kind: Endpoint['kind'];
  listen(endpoint: Endpoint, options: ListenOptions): Promise<Listener>;
  connect(endpoint: Endpoint, options?: ConnectOptions): Promise<Socket>;
}

export const DEFAULT_CONNECT_TIMEOUT = 10_000;
