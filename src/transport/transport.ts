/** The transport interface: something that can listen on and connect to an Endpoint. */
import type { Socket } from 'node:net';
import type { TransportError } from '../errors.js';
import type { Endpoint } from './endpoint.js';
import type { TlsClientOptions, TlsServerOptions } from './tls-options.js';

export interface ConnectOptions {
  /** Milliseconds before the connect fails with ConnectionTimeout; default 10_000, Infinity disables. */
  timeout?: number;
  /** Aborting rejects the connect with `signal.reason` (an AbortError DOMException unless you pass one). */
  signal?: AbortSignal;
  /** TLS for a tcp:// endpoint (a tls:// endpoint uses TLS with or without it). */
  tls?: TlsClientOptions;
  /** TLS: milliseconds for the TLS handshake after the TCP connect. Default 5000. */
  handshakeTimeout?: number;
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
  /** TLS for a tcp:// endpoint (a tls:// endpoint needs it: cert and key). Unix sockets and pipes ignore it. */
  tls?: TlsServerOptions;
  /** TLS: the TLS handshake (and the wait for its first byte) must finish within this many ms. Default 5000. */
  handshakeTimeout?: number;
  /** TLS: a client sent plain (non-TLS) bytes; tell it, then close the socket. Default: destroy it. */
  onPlaintext?: (socket: Socket) => void;
  /** TLS: the handshake went through but the client's certificate is refused (mutual TLS); tell it, then close. Default: destroy it. */
  onTlsRefusal?: (socket: Socket, error: TransportError) => void;
  /** TLS: a handshake failed or timed out before any connection was made (the socket is gone). */
  onHandshakeError?: (error: TransportError, address: string) => void;
  /**
   * TLS over TCP: asked for each accepted socket before its TLS handshake, so that the
   * sockets still in it count toward a connection limit. Returns the function to call
   * once the handshake is over (done, failed, or the socket gone; called once), or
   * undefined to refuse the socket (it is closed at once).
   */
  admitTls?: () => (() => void) | undefined;
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
