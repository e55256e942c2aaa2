/**
 * TLS for TCP endpoints: the options users pass, the secure contexts made from them,
 * what a verified peer's certificate tells (TlsPeer), and Node's TLS errors turned into
 * wirecall's typed ones (docs/TLS.md). Everything here runs once per connection or per
 * failure, never per frame.
 */
import tls from 'node:tls';
import {
  CertificateExpired,
  CertificateNameMismatch,
  CertificateUntrusted,
  ClientCertificateRequired,
  InvalidOption,
  TlsError,
  TlsNotOffered,
  TlsRequired,
} from '../errors.js';
import { errorMessage } from '../util/error-message.js';

/** PEM text or its bytes; several of them for a chain or a CA bundle. */
export type PemInput = string | Buffer | ReadonlyArray<string | Buffer>;

export interface TlsOptions {
  /** Our certificate (chain), PEM. A server needs one; a client sends one for mutual TLS. */
  cert?: PemInput;
  /** The private key of `cert`, PEM. */
  key?: PemInput;
  /** Passphrase of an encrypted `key`. */
  passphrase?: string;
  /**
   * CAs trusted to sign the peer's certificate, PEM. A client without it trusts the
   * system's CAs; a server checks client certificates against it (mutual TLS).
   */
  ca?: PemInput;
  /** Lowest TLS version accepted: 'TLSv1.2' (default) or 'TLSv1.3'. Nothing older is ever allowed. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list, for TLS 1.2 suites (Node's default otherwise). */
  ciphers?: string;
  /**
   * TLS on `unix:` endpoints too. Default false: Unix sockets stay plain (local, guarded
   * by file permissions). Plugins with AutoMTLS turn it on, as go-plugin does.
   */
  unixSockets?: boolean;
}

export interface TlsClientOptions extends TlsOptions {
  /** The name the server's certificate must carry (also sent as SNI). Default: the endpoint's host (`localhost` on a Unix socket). */
  servername?: string;
  /** Verify the server's certificate and name. Default true; false is for development only. */
  rejectUnauthorized?: boolean;
}

export interface TlsServerOptions extends TlsOptions {
  /** Mutual TLS: ask every client for a certificate signed by `ca`. Default false. */
  requestCert?: boolean;
  /** With `requestCert`: refuse clients without a valid certificate. Default true. */
  rejectUnauthorized?: boolean;
}

/** What TLS told us about the peer (`peer.tls`): set on every connection made over TLS. */
export interface TlsPeer {
  /** The negotiated version, e.g. `TLSv1.3`. */
  readonly protocol: string;
  /** The negotiated cipher suite, e.g. `TLS_AES_256_GCM_SHA384`. */
  readonly cipher: string;
  /** The peer's certificate was verified against our CAs (and, for a server, its name). */
  readonly authorized: boolean;
  /** The peer's certificate subject, e.g. `{ CN: 'render-07', O: 'Studio' }`; undefined without a certificate. */
  readonly subject: Readonly<Record<string, string>> | undefined;
  /** Its issuer, the same way. */
  readonly issuer: Readonly<Record<string, string>> | undefined;
  /** Its subject alternative names, e.g. `['DNS:render-07.studio', 'IP Address:10.0.0.7']`. */
  readonly subjectAltNames: readonly string[];
  /** SHA-256 fingerprint of the certificate, `AB:CD:…` (pin on this). */
  readonly fingerprint256: string | undefined;
  readonly serialNumber: string | undefined;
  /** Validity period, as OpenSSL prints it (`Nov 29 01:48:58 2026 GMT`). */
  readonly validFrom: string | undefined;
  readonly validTo: string | undefined;
}

const VERSIONS = new Set(['TLSv1.2', 'TLSv1.3']);

function checkCommon(o: TlsOptions, what: string): void {
  if (typeof o !== 'object' || o === null) throw new InvalidOption(`${what} must be an object`);
  for (const key of ['cert', 'key', 'ca'] as const) {
    const v = o[key];
    if (v === undefined) continue;
    const items: readonly unknown[] = Array.isArray(v) ? v : [v];
    if (!items.every((x) => typeof x === 'string' || Buffer.isBuffer(x))) {
      throw new InvalidOption(`${what}.${key} must be PEM text or a Buffer (or an array of them)`);
    }
  }
  if (o.unixSockets !== undefined && typeof o.unixSockets !== 'boolean') throw new InvalidOption(`${what}.unixSockets must be a boolean`);
  if (o.minVersion !== undefined && !VERSIONS.has(o.minVersion)) {
    throw new InvalidOption(`${what}.minVersion must be 'TLSv1.2' or 'TLSv1.3', got ${JSON.stringify(o.minVersion)}`);
  }
}

function contextOptions(o: TlsOptions): tls.SecureContextOptions {
  const out: tls.SecureContextOptions = { minVersion: o.minVersion ?? 'TLSv1.2' };
  if (o.cert !== undefined) out.cert = o.cert as string | Buffer | Array<string | Buffer>;
  if (o.key !== undefined) out.key = o.key as string | Buffer | Array<string | Buffer>;
  if (o.ca !== undefined) out.ca = o.ca as string | Buffer | Array<string | Buffer>;
  if (o.passphrase !== undefined) out.passphrase = o.passphrase;
  if (o.ciphers !== undefined) out.ciphers = o.ciphers;
  return out;
}

function secureContext(o: TlsOptions, what: string): tls.SecureContext {
  try {
    return tls.createSecureContext(contextOptions(o));
  } catch (err) {
    throw new InvalidOption(`${what}: cannot load the certificate, key or CA: ${errorMessage(err)}`, { cause: err });
  }
}

/** A server's checked TLS settings (its certificate, key and CA already loaded once, to check them). */
export interface ServerTls {
  readonly context: tls.SecureContextOptions;
  readonly requestCert: boolean;
  readonly rejectUnauthorized: boolean;
}

export function serverTls(o: TlsServerOptions): ServerTls {
  checkCommon(o, 'tls');
  if (o.cert === undefined || o.key === undefined) {
    throw new InvalidOption('a TLS server needs tls.cert and tls.key (PEM; --tls-cert and --tls-key on the command line)');
  }
  const requestCert = o.requestCert ?? false;
  if (requestCert && o.ca === undefined) {
    throw new InvalidOption('tls.requestCert needs tls.ca: the CA that signs client certificates');
  }
  secureContext(o, 'tls');
  return { context: contextOptions(o), requestCert, rejectUnauthorized: o.rejectUnauthorized ?? true };
}

/** The name a server's certificate is checked against over a Unix socket, unless tls.servername says otherwise. */
export const UNIX_TLS_SERVERNAME = 'localhost';

/** The options of tls.connect for one client connection, to a TCP host and port or a Unix socket path. */
export function clientTls(o: TlsClientOptions, to: { host: string; port: number } | { path: string }): tls.ConnectionOptions {
  checkCommon(o, 'tls');
  if ((o.cert === undefined) !== (o.key === undefined)) {
    throw new InvalidOption('a client certificate needs both tls.cert and tls.key');
  }
  const servername = o.servername ?? ('host' in to ? to.host : UNIX_TLS_SERVERNAME);
  const options: tls.ConnectionOptions = {
    ...to,
    secureContext: secureContext(o, 'tls'),
    rejectUnauthorized: o.rejectUnauthorized ?? true,
    // Names are checked against servername; SNI carries it unless it is an IP address.
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(servername, cert),
  };
  if (!/^[\d.]+$/.test(servername) && !servername.includes(':')) options.servername = servername;
  return options;
}

function nameMap(value: unknown): Readonly<Record<string, string>> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

export function isTlsSocket(socket: unknown): socket is tls.TLSSocket {
  return socket instanceof tls.TLSSocket;
}

/** What a TLS socket knows of its peer; undefined for a socket without TLS. */
export function tlsPeerOf(socket: unknown): TlsPeer | undefined {
  if (!(socket instanceof tls.TLSSocket)) return undefined;
  const cert = socket.getPeerCertificate();
  const has = cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0;
  return {
    protocol: socket.getProtocol() ?? '',
    cipher: socket.getCipher()?.standardName ?? '',
    authorized: socket.authorized,
    subject: has ? nameMap(cert.subject) : undefined,
    issuer: has ? nameMap(cert.issuer) : undefined,
    subjectAltNames: has && typeof cert.subjectaltname === 'string' ? cert.subjectaltname.split(', ') : [],
    fingerprint256: has ? cert.fingerprint256 : undefined,
    serialNumber: has ? cert.serialNumber : undefined,
    validFrom: has ? cert.valid_from : undefined,
    validTo: has ? cert.valid_to : undefined,
  };
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_CERTIFICATE_VERIFY_FAILED',
]);
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED']);
const NO_CLIENT_CERT = new Set(['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE']);
/** Bytes that are not TLS records where TLS was expected. */
const NOT_TLS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_HTTP_REQUEST', 'ERR_SSL_UNKNOWN_PROTOCOL']);

/**
 * Node's TLS error as a typed wirecall error, or undefined when `err` is not about TLS.
 * `side` is who saw it; `url` the other end. An alert (`ERR_SSL_…_ALERT_…`) is the peer's
 * verdict on our certificate; anything else is our check of theirs.
 */
export function tlsFailure(err: unknown, side: 'client' | 'server', url: string): TlsError | undefined {
  if (err instanceof TlsError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  const cause = { cause: err };
  const why = errorMessage(err);
  const alert = code.startsWith('ERR_SSL_') && code.includes('_ALERT_');
  const theirs = side === 'client' ? "the server's certificate" : "the client's certificate";
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new CertificateNameMismatch(`${theirs} does not name the host dialled for ${url} (${why}); connect by a name the certificate lists, or set tls.servername`, cause);
  }
  if (EXPIRED.has(code)) {
    return alert
      ? new CertificateExpired(`${url} refused our certificate as expired or not yet valid (${why}); renew it`, cause)
      : new CertificateExpired(`${theirs} from ${url} is expired or not yet valid (${why}); renew it`, cause);
  }
  if (UNTRUSTED.has(code)) {
    return alert
      ? new CertificateUntrusted(`${url} does not trust our certificate (${why}): it is not signed by a CA the ${side === 'client' ? 'server' : 'client'} trusts`, cause)
      : new CertificateUntrusted(`${theirs} from ${url} is not signed by a trusted CA (${why}); pass the CA that signed it as tls.ca (--tls-ca)`, cause);
  }
  if (NO_CLIENT_CERT.has(code)) {
    return side === 'client'
      ? new ClientCertificateRequired(`${url} requires a client certificate (mutual TLS); pass tls.cert and tls.key (--tls-cert, --tls-key)`, cause)
      : new ClientCertificateRequired(`the client at ${url} sent no certificate, and this server requires one (mutual TLS)`, cause);
  }
  if (NOT_TLS.has(code)) {
    return side === 'client'
      ? new TlsNotOffered(`${url} does not speak TLS (it answered the TLS handshake with plain bytes): connect with tcp://, or serve it with TLS`, cause)
      : new TlsRequired(`the client at ${url} does not speak TLS (it sent plain bytes to a TLS port)`, cause);
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) {
    return new TlsError(`TLS with ${url} failed: ${why}`, cause);
  }
  return undefined;
}

/** What a plain client is told (in a REJECT) when it reaches a TLS port. */
export const TLS_REQUIRED_REASON = 'TLS_REQUIRED';
export function tlsRequiredMessage(url: string): string {
  return `${url} requires TLS`;
}

/**
 * The REJECT reasons a TLS server sends a client whose certificate it refuses (mutual
 * TLS), so the client gets the same typed error the server logs.
 */
const REJECT_REASONS: ReadonlyArray<[reason: string, make: new (message: string) => TlsError]> = [
  [TLS_REQUIRED_REASON, TlsRequired],
  ['TLS_CLIENT_CERT_REQUIRED', ClientCertificateRequired],
  ['TLS_CERT_UNTRUSTED', CertificateUntrusted],
  ['TLS_CERT_EXPIRED', CertificateExpired],
  ['TLS_CERT_REFUSED', TlsError],
];

/** The REJECT reason for a refused client certificate. */
export function tlsRejectReason(error: TlsError): string {
  return REJECT_REASONS.find(([, make]) => error.constructor === make)?.[0] ?? 'TLS_CERT_REFUSED';
}

/** A REJECT from a TLS server, as the typed error it stands for; undefined for other reasons. */
export function tlsRejection(reason: string, message: string, url: string): TlsError | undefined {
  const make = REJECT_REASONS.find(([r]) => r === reason)?.[1];
  if (make === undefined) return undefined;
  const advice: Record<string, string> = {
    TLS_REQUIRED: 'connect with tls:// (or the tls option; any --tls-* flag on the command line)',
    TLS_CLIENT_CERT_REQUIRED: 'it requires a client certificate (mutual TLS): pass tls.cert and tls.key (--tls-cert, --tls-key)',
    TLS_CERT_UNTRUSTED: 'it does not trust our client certificate: use one signed by the CA it trusts',
    TLS_CERT_EXPIRED: 'our client certificate is expired or not yet valid: renew it',
  };
  return new make(`${url} refused the connection (${reason}): ${message}${advice[reason] ? `; ${advice[reason]}` : ''}`);
}
