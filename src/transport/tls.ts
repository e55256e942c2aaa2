/**
 * TLS over TCP (`tls://host:port`, or a tcp:// endpoint with the `tls` option), and over
 * a Unix socket when the `tls` option says `unixSockets: true` (AutoMTLS plugins): the
 * socket file is bound by the Unix transport (stale files, mode), TLS runs on top.
 *
 * Server: a plain net.Server; each accepted socket is peeked at (its first byte) before
 * TLS takes over its handle, so a plain client can be told, in its own protocol, that it
 * needs TLS (ListenOptions.onPlaintext) instead of being reset. The TLS handshake runs
 * within `handshakeTimeout`; a client certificate refused (mutual TLS) is handed to
 * onTlsRefusal so the client can be told why; onConnection gets verified sockets only. Client: resolves once the TLS handshake
 * is done, with the server's certificate and name verified; `handshakeTimeout` bounds it.
 * After the handshake, bytes go through Node's TLSSocket (C++): no per-frame work here.
 */
import net from 'node:net';
import tls from 'node:tls';
import { HandshakeTimeout, InvalidEndpoint, LimitExceeded, TlsError, TlsNotOffered } from '../errors.js';
import { errorCode } from '../util/error-code.js';
import { connectError, dial, invalidTimeout } from './connect.js';
import { formatEndpoint, validateEndpoint, type Endpoint } from './endpoint.js';
import { listenerFor, startNetServer } from './net-server.js';
import { listenError } from './tcp.js';
import { clientTls, serverTls, tlsFailure, type TlsClientOptions, type TlsServerOptions } from './tls-options.js';
import type { ConnectOptions, Listener, ListenOptions, Transport } from './transport.js';
import { unixTransport } from './unix.js';
import { errorMessage } from '../util/error-message.js';

type TlsEndpoint = Extract<Endpoint, { kind: 'tcp' | 'unix' }>;

/** The first byte of every TLS record a client opens with (a handshake record). */
const TLS_HANDSHAKE_RECORD = 0x16;
/** The TLS handshake's time limit when no handshakeTimeout is given (the connection's default). */
const DEFAULT_HANDSHAKE_TIMEOUT = 5000;
const MAX_TIMER = 2 ** 31 - 1;

export class TlsTransport implements Transport {
  readonly kind = 'tcp' as const;

  async listen(endpoint: Endpoint, options: ListenOptions): Promise<Listener> {
    const ep = asTlsEndpoint(endpoint);
    const url = tlsUrl(ep);
    const onConnection = acceptor(options, ep.kind === 'unix' ? url : undefined);
    if (ep.kind === 'unix') return unixTransport.listen(ep, { ...options, onConnection });
    const server = await startNetServer({ host: ep.host, port: ep.port, backlog: options.backlog }, { ...options, onConnection }, (err) =>
      listenError(err, url, ep.host),
    );
    const address = server.address() as net.AddressInfo;
    return listenerFor({ kind: 'tcp', host: address.address, port: address.port, tls: true }, () => server.close());
  }

  /** A fresh private Unix socket (a named pipe on Windows) with TLS: listen() without an endpoint and `tls.unixSockets`. */
  async listenPrivate(options: ListenOptions): Promise<Listener> {
    const local = { url: 'a private socket' };
    const listener = await unixTransport.listenPrivate({ ...options, onConnection: acceptor(options, local) });
    local.url = listener.url;
    return listener;
  }

  connect(endpoint: Endpoint, options: ConnectOptions = {}): Promise<net.Socket> {
    let ep: TlsEndpoint;
    let target: tls.ConnectionOptions;
    try {
      ep = asTlsEndpoint(endpoint);
      if (ep.kind === 'tcp' && ep.port === 0) throw new InvalidEndpoint(formatEndpoint(ep), 'cannot connect to port 0 (it only means "any free port" when listening)');
      target = clientTls(options.tls ?? ({} as TlsClientOptions), ep.kind === 'unix' ? { path: ep.path } : { host: ep.host, port: ep.port });
    } catch (err) {
      return Promise.reject(err);
    }
    return connectTls(target, tlsUrl(ep), options);
  }
}

/**
 * What runs on each accepted socket: the peek, then TLS and the client certificate's
 * check; verified sockets go on to options.onConnection. `local` names the listener for
 * a Unix socket's clients, which have no address (undefined for TCP).
 */
function acceptor(options: ListenOptions, local: string | { url: string } | undefined): (raw: net.Socket) => void {
  const settings = serverTls(options.tls ?? ({} as TlsServerOptions));
  const handshakeTimeout = Math.min(options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT, MAX_TIMER);
  const localUrl = (): string | undefined => (typeof local === 'object' ? local.url : local);
  // Never listens: accepted sockets are handed to it (its 'connection' event) once
  // they have been seen to open with TLS. It runs the handshake and its timeout.
  // Client certificates are judged below, not by OpenSSL, so that a refused client
  // is told why in a REJECT over TLS instead of a bare reset.
  const tlsServer = tls.createServer({
    ...settings.context,
    requestCert: settings.requestCert,
    rejectUnauthorized: false,
    handshakeTimeout,
  });
  // TCP sockets admitted into the TLS phase (options.admitTls), by remote address and
  // port: unique among live sockets, and the only link from a TLSSocket to its raw one
  // that Node makes public.
  const inHandshake = new Map<string, () => void>();
  tlsServer.on('secureConnection', (socket: tls.TLSSocket) => {
    const key = addressKey(socket);
    if (key !== undefined) inHandshake.get(key)?.();
    const refusal = settings.requestCert && settings.rejectUnauthorized ? clientCertProblem(socket, peerUrl(socket, localUrl())) : undefined;
    if (refusal !== undefined) {
      if (options.onTlsRefusal !== undefined) options.onTlsRefusal(socket, refusal);
      else socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    options.onConnection(socket);
  });
  tlsServer.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
    const remote = peerUrl(socket, localUrl());
    // Node leaves the socket open after some of these (a handshake timeout): close it.
    socket.destroy();
    const error =
      errorCode(err) === 'ERR_TLS_HANDSHAKE_TIMEOUT'
        ? new HandshakeTimeout(`TLS handshake with ${remote} did not complete within ${handshakeTimeout} ms`, { cause: err })
        : (tlsFailure(err, 'server', remote) ?? new TlsError(`TLS handshake with ${remote} failed: ${errorMessage(err)}`, { cause: err }));
    options.onHandshakeError?.(error, remote);
  });
  return (raw) => {
    const key = options.admitTls === undefined ? undefined : addressKey(raw);
    if (key !== undefined) {
      const release = options.admitTls!();
      if (release === undefined) {
        const remote = peerUrl(raw, localUrl());
        raw.destroy();
        options.onHandshakeError?.(new LimitExceeded(`refused ${remote}: the server is at its connection limit (sockets in their TLS handshake count)`), remote);
        return;
      }
      // Released when the handshake is done (secureConnection) or the socket goes, whichever is first.
      const done = (): void => {
        if (inHandshake.get(key) === done) inHandshake.delete(key);
        release();
      };
      inHandshake.set(key, done);
      raw.once('close', done);
    }
    peek(raw, handshakeTimeout, options, tlsServer, localUrl());
  };
}

/** `address|port` of a TCP socket; undefined for a Unix socket's client (no address). */
function addressKey(socket: net.Socket): string | undefined {
  return socket.remoteAddress === undefined ? undefined : `${socket.remoteAddress}|${socket.remotePort}`;
}

/**
 * Waits for an accepted socket's first bytes: a TLS record goes on to the TLS server;
 * anything else is a plain client (onPlaintext tells it). Silent past the handshake
 * timeout: dropped.
 */
function peek(raw: net.Socket, timeout: number, options: ListenOptions, tlsServer: tls.Server, localUrl: string | undefined): void {
  const ignore = (): void => {};
  raw.on('error', ignore); // a reset while peeking: the socket just goes
  const remote = peerUrl(raw, localUrl);
  const timer = setTimeout(() => {
    raw.destroy();
    options.onHandshakeError?.(new HandshakeTimeout(`${remote} sent nothing within ${timeout} ms (no TLS handshake)`), remote);
  }, timeout);
  timer.unref();
  const onClose = (): void => clearTimeout(timer);
  raw.once('close', onClose);
  raw.once('readable', () => {
    clearTimeout(timer);
    raw.off('close', onClose);
    raw.off('error', ignore);
    const first = raw.read() as Buffer | null;
    if (first === null) return void raw.destroy();
    raw.unshift(first);
    if (first[0] === TLS_HANDSHAKE_RECORD) {
      // TLS takes over the socket's handle; the peeked bytes are fed to it first.
      tlsServer.emit('connection', raw);
    } else if (options.onPlaintext !== undefined) {
      options.onPlaintext(raw);
    } else {
      raw.destroy();
    }
  });
}

/** Why a client's certificate is refused (mutual TLS), or undefined when it is good. */
function clientCertProblem(socket: tls.TLSSocket, remote: string): TlsError | undefined {
  if (socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (cert === null || typeof cert !== 'object' || Object.keys(cert).length === 0) {
    return tlsFailure({ code: 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', message: 'no client certificate' }, 'server', remote);
  }
  const code = String(socket.authorizationError ?? 'CERT_UNTRUSTED');
  return tlsFailure({ code, message: code }, 'server', remote) ?? new TlsError(`the client certificate from ${remote} was refused: ${code}`);
}

/** The client's address; a Unix socket's client has none: `a client of unix:/path`. */
function peerUrl(socket: net.Socket, localUrl?: string): string {
  const ip = socket.remoteAddress;
  if (ip === undefined) return localUrl === undefined || localUrl.startsWith('tls:') ? 'a client' : `a client of ${localUrl}`;
  return `tcp://${ip.includes(':') ? `[${ip}]` : ip}:${socket.remotePort}`;
}

/**
 * Connects, runs the TLS handshake, and resolves with the verified socket. `timeout`
 * bounds the TCP connect, `handshakeTimeout` the TLS handshake after it. Every failure
 * destroys the socket and rejects with a typed error.
 */
function connectTls(target: tls.ConnectionOptions, url: string, options: ConnectOptions): Promise<net.Socket> {
  const handshakeTimeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
  const bad = invalidTimeout('handshakeTimeout', handshakeTimeout);
  if (bad !== undefined) return Promise.reject(bad);
  return dial(() => tls.connect(target), url, options, {
    ready: 'secureConnect',
    afterConnect: (arm) => arm(handshakeTimeout, () => new HandshakeTimeout(`TLS handshake with ${url} did not complete within ${handshakeTimeout} ms`)),
    error: (err, connected) => tlsFailure(err, 'client', url) ?? (connected ? notOffered(err, url) : connectError(err, url)),
    // Closed during the TLS handshake without a TLS alert: not a TLS server.
    closed: () => notOffered(undefined, url),
  });
}

/** The server hung up during our TLS handshake, with no TLS alert: it is not a TLS server. */
function notOffered(cause: unknown, url: string): Error {
  const how = cause === undefined ? 'closed the connection' : `failed (${errorMessage(cause)})`;
  return new TlsNotOffered(`${url} ${how} during the TLS handshake without a TLS answer: it is probably not a TLS port; connect with tcp://, or serve it with TLS`, cause === undefined ? undefined : { cause });
}

function asTlsEndpoint(endpoint: Endpoint): TlsEndpoint {
  const ep = validateEndpoint(endpoint);
  if (ep.kind !== 'tcp' && ep.kind !== 'unix') throw new InvalidEndpoint(formatEndpoint(ep), 'TLS only runs over tcp://, tls:// and unix: endpoints');
  return ep;
}

/** `tls://host:port` for TCP; a Unix socket keeps its `unix:/path`. */
function tlsUrl(ep: TlsEndpoint): string {
  return ep.kind === 'unix' ? formatEndpoint(ep) : formatEndpoint({ ...ep, tls: true });
}

export const tlsTransport: TlsTransport = new TlsTransport();
