/**
 * One error hierarchy for all of wirecall.
 *
 *   WirecallError
 *   ├── InvalidEndpoint                 bad endpoint string (never reached the network)
 *   ├── InvalidOption                   an option or argument refused before anything was done
 *   ├── TransportError                  the connection itself failed
 *   │   ├── ConnectionFailed            could not connect (refused, unreachable, DNS)
 *   │   ├── ConnectionTimeout           connect did not finish in time
 *   │   │   └── HandshakeTimeout        connected, but the handshake did not finish in time
 *   │   ├── ConnectionClosed            closed on purpose (by us or by the peer's shutdown)
 *   │   ├── ConnectionLost              died unexpectedly (reset, EOF, missed heartbeats)
 *   │   ├── AddressInUse                listen: something is already serving there
 *   │   ├── FrameTooLarge               a frame over the negotiated size limit
 *   │   ├── ProtocolError               the peer sent bytes we cannot understand
 *   │   ├── HandshakeRejected           the peer refused our handshake (version, token)
 *   │   ├── LimitExceeded               the peer went past a limit we set (unread replies, refusals, slow frames)
 *   │   └── TlsError                    the TLS layer failed (docs/TLS.md)
 *   │       ├── CertificateUntrusted    the certificate is not signed by a CA we (or the peer) trust
 *   │       ├── CertificateNameMismatch the server's certificate does not name the host we dialled
 *   │       ├── CertificateExpired      a certificate is past its notAfter date (or before its notBefore)
 *   │       ├── ClientCertificateRequired the server requires a client certificate and got none
 *   │       ├── TlsRequired             a plain client on a TLS port
 *   │       └── TlsNotOffered           a TLS client on a plain port
 *   ├── CallError                       one call failed; the connection is fine
 *   │   ├── RemoteError                 the peer answered with an error status
 *   │   ├── DeadlineExceeded            the call's deadline passed
 *   │   ├── CallCancelled               the caller aborted the call
 *   │   ├── InvalidArgument             the call could not be sent as given (e.g. params not encodable)
 *   │   ├── StreamClosed                a write to a stream whose sending side is closed
 *   │   ├── NotSupported                the connection's dialect cannot carry it (a stream over dcc-mcp)
 *   │   └── MessageTooLarge             a call, notification or stream message over the peer's frame limit
 *   ├── InternalError                   a bug in wirecall: an invariant did not hold
 *   └── ManagerError                    TransportManager: registry, sessions, pool
 *       ├── ServiceNotFound             no live instance matches
 *       ├── ServiceAlreadyRegistered    (dcc_type, instance_id) is taken
 *       ├── PoolExhausted               every connection is leased and waiting is not allowed
 *       ├── AcquireTimeout              waited acquireTimeout for a pooled connection
 *       ├── SessionNotFound             no session with that id
 *       ├── InvalidSessionState         a transition the session state machine forbids
 *       ├── ReconnectionFailed          a session gave up reconnecting (retries exhausted)
 *       ├── ShutdownError               the manager was shut down
 *       ├── RegistryFileError           services.json could not be read, locked or written
 *       └── SerializationError          a value could not be encoded or decoded
 *
 * Every class carries a stable `code` string. `instanceof` works across two copies of
 * the package (a plugin bundling its own wirecall, say): each instance is branded with
 * the names of its classes under a `Symbol.for` key, and `Symbol.hasInstance` checks
 * the brand rather than the prototype chain.
 */
import { Status, statusName } from './status.js';

const KINDS = Symbol.for('wirecall.error.kinds');

type Branded = { [KINDS]?: readonly string[] };

export interface WirecallErrorOptions {
  cause?: unknown;
}

export class WirecallError extends Error {
  static readonly kind: string = 'WirecallError';
  static readonly code: string = 'ERR_WIRECALL';
  readonly code: string;
  declare readonly [KINDS]: readonly string[];

  constructor(message: string, options?: WirecallErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    const ctor = new.target as typeof WirecallError;
    // A user subclass (`class NotFound extends RemoteError {}`) need not declare `kind`:
    // it is named after itself and branded with the wirecall classes above it.
    this.name = Object.hasOwn(ctor, 'kind') ? ctor.kind : ctor.name;
    this.code = ctor.code;
    const kinds: string[] = [];
    for (let c: unknown = ctor; typeof c === 'function' && c !== Error; c = Object.getPrototypeOf(c)) {
      if (Object.hasOwn(c, 'kind')) kinds.push((c as typeof WirecallError).kind);
    }
    Object.defineProperty(this, KINDS, { value: Object.freeze(kinds), enumerable: false });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    // Subclasses without their own `kind` exist in one copy only: plain prototype check.
    if (!Object.hasOwn(this, 'kind')) return Function.prototype[Symbol.hasInstance].call(this, value);
    if (typeof value !== 'object' || value === null) return false;
    const kinds = (value as Branded)[KINDS];
    return Array.isArray(kinds) && kinds.includes(this.kind);
  }
}

export class InvalidEndpoint extends WirecallError {
  static override readonly kind: string = 'InvalidEndpoint';
  static override readonly code: string = 'ERR_INVALID_ENDPOINT';
  constructor(
    readonly endpoint: string,
    reason: string,
  ) {
    super(`invalid endpoint ${JSON.stringify(endpoint)}: ${reason}`);
  }
}

/** An option or argument out of range, of the wrong type, or missing; nothing was done. */
export class InvalidOption extends WirecallError {
  static override readonly kind: string = 'InvalidOption';
  static override readonly code: string = 'ERR_INVALID_OPTION';
}

export class TransportError extends WirecallError {
  static override readonly kind: string = 'TransportError';
  static override readonly code: string = 'ERR_TRANSPORT';
}
export class ConnectionFailed extends TransportError {
  static override readonly kind: string = 'ConnectionFailed';
  static override readonly code: string = 'ERR_CONNECTION_FAILED';
}
export class ConnectionTimeout extends TransportError {
  static override readonly kind: string = 'ConnectionTimeout';
  static override readonly code: string = 'ERR_CONNECTION_TIMEOUT';
}
export class HandshakeTimeout extends ConnectionTimeout {
  static override readonly kind: string = 'HandshakeTimeout';
  static override readonly code: string = 'ERR_HANDSHAKE_TIMEOUT';
}
export class ConnectionClosed extends TransportError {
  static override readonly kind: string = 'ConnectionClosed';
  static override readonly code: string = 'ERR_CONNECTION_CLOSED';
}
export class ConnectionLost extends TransportError {
  static override readonly kind: string = 'ConnectionLost';
  static override readonly code: string = 'ERR_CONNECTION_LOST';
}
export class AddressInUse extends TransportError {
  static override readonly kind: string = 'AddressInUse';
  static override readonly code: string = 'ERR_ADDRESS_IN_USE';
}
export class FrameTooLarge extends TransportError {
  static override readonly kind: string = 'FrameTooLarge';
  static override readonly code: string = 'ERR_FRAME_TOO_LARGE';
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`incoming frame of ${size} bytes exceeds the limit of ${limit} bytes`);
  }
}
export class ProtocolError extends TransportError {
  static override readonly kind: string = 'ProtocolError';
  static override readonly code: string = 'ERR_PROTOCOL';
}
export class HandshakeRejected extends TransportError {
  static override readonly kind: string = 'HandshakeRejected';
  static override readonly code: string = 'ERR_HANDSHAKE_REJECTED';
  constructor(
    /** Machine-readable reason from the peer, e.g. `VERSION_MISMATCH`, `UNAUTHENTICATED`. */
    readonly reason: string,
    message: string,
  ) {
    super(`handshake rejected (${reason}): ${message}`);
  }
}

/**
 * The peer went past one of this side's resource limits and was cut off: it left our
 * replies unread too long, kept calling past the concurrency limit after being refused,
 * took too long to finish a frame, or arrived when the server was full.
 */
export class LimitExceeded extends TransportError {
  static override readonly kind: string = 'LimitExceeded';
  static override readonly code: string = 'ERR_LIMIT_EXCEEDED';
}

/**
 * The TLS layer failed: a certificate was refused, the handshake broke, or one side
 * speaks TLS and the other does not. `cause` is Node's error (its `code`, e.g.
 * `CERT_HAS_EXPIRED`, is kept as `tlsCode`).
 */
export class TlsError extends TransportError {
  static override readonly kind: string = 'TlsError';
  static override readonly code: string = 'ERR_TLS';
  /** Node's / OpenSSL's code for the failure, e.g. `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, when there is one. */
  readonly tlsCode: string | undefined;
  constructor(message: string, options?: WirecallErrorOptions) {
    super(message, options);
    const code = (options?.cause as { code?: unknown } | undefined)?.code;
    this.tlsCode = typeof code === 'string' ? code : undefined;
  }
}
/** The certificate (the server's, or a client's seen by the server) is not signed by a trusted CA. */
export class CertificateUntrusted extends TlsError {
  static override readonly kind: string = 'CertificateUntrusted';
  static override readonly code: string = 'ERR_TLS_CERT_UNTRUSTED';
}
/** The server's certificate does not name the host we connected to (servername check). */
export class CertificateNameMismatch extends TlsError {
  static override readonly kind: string = 'CertificateNameMismatch';
  static override readonly code: string = 'ERR_TLS_CERT_NAME_MISMATCH';
}
/** A certificate in the chain has expired (or is not valid yet). */
export class CertificateExpired extends TlsError {
  static override readonly kind: string = 'CertificateExpired';
  static override readonly code: string = 'ERR_TLS_CERT_EXPIRED';
}
/** Mutual TLS: the server asks for a client certificate and the client sent none. */
export class ClientCertificateRequired extends TlsError {
  static override readonly kind: string = 'ClientCertificateRequired';
  static override readonly code: string = 'ERR_TLS_CLIENT_CERT_REQUIRED';
}
/** A plain (non-TLS) client reached a TLS port: connect with `tls://` (or the `tls` option). */
export class TlsRequired extends TlsError {
  static override readonly kind: string = 'TlsRequired';
  static override readonly code: string = 'ERR_TLS_REQUIRED';
}
/** A TLS client reached a port that does not speak TLS: connect with `tcp://`, or serve with TLS. */
export class TlsNotOffered extends TlsError {
  static override readonly kind: string = 'TlsNotOffered';
  static override readonly code: string = 'ERR_TLS_NOT_OFFERED';
}

export class CallError extends WirecallError {
  static override readonly kind: string = 'CallError';
  static override readonly code: string = 'ERR_CALL';
  /** The status this failure maps to on the wire. */
  readonly status: Status = Status.SERVER_ERROR;
}

export interface RemoteErrorOptions extends WirecallErrorOptions {
  /** Application-level code chosen by the handler (e.g. `ENOENT`), not the class `code`. */
  remoteCode?: string;
  /** The `name` of the error thrown on the remote side. */
  remoteName?: string;
  /** Extra structured detail (any MessagePack-encodable value). */
  data?: unknown;
  /** The remote stack; only present when the remote side opts in. */
  remoteStack?: string;
}

/**
 * An error status from the peer. Handlers throw it to answer with a chosen status:
 * `throw new RemoteError(Status.INVALID_ARGUMENT, 'a must be a number')`.
 */
export class RemoteError extends CallError {
  static override readonly kind: string = 'RemoteError';
  static override readonly code: string = 'ERR_REMOTE';
  declare readonly status: Status;
  readonly remoteCode: string | undefined;
  readonly remoteName: string;
  readonly data: unknown;
  readonly remoteStack: string | undefined;

  constructor(status: Status, message: string, options: RemoteErrorOptions = {}) {
    super(message, options);
    Object.defineProperty(this, 'status', { value: status, enumerable: true });
    this.remoteCode = options.remoteCode;
    this.remoteName = options.remoteName ?? 'Error';
    this.data = options.data;
    this.remoteStack = options.remoteStack;
  }

  get statusName(): string {
    return statusName(this.status);
  }
}

export class DeadlineExceeded extends CallError {
  static override readonly kind: string = 'DeadlineExceeded';
  static override readonly code: string = 'ERR_DEADLINE_EXCEEDED';
  override readonly status: Status = Status.DEADLINE_EXCEEDED;
}

export class CallCancelled extends CallError {
  static override readonly kind: string = 'CallCancelled';
  static override readonly code: string = 'ERR_CANCELLED';
  override readonly status: Status = Status.CANCELLED;
}

export class InvalidArgument extends CallError {
  static override readonly kind: string = 'InvalidArgument';
  static override readonly code: string = 'ERR_INVALID_ARGUMENT';
  override readonly status: Status = Status.INVALID_ARGUMENT;
}

/** A write to a stream after `end()`, or after the other side finished the stream. */
export class StreamClosed extends CallError {
  static override readonly kind: string = 'StreamClosed';
  static override readonly code: string = 'ERR_STREAM_CLOSED';
}
/** The connection's dialect cannot carry this: a stream on a dcc-mcp-core connection, say. Nothing was sent. */
export class NotSupported extends CallError {
  static override readonly kind: string = 'NotSupported';
  static override readonly code: string = 'ERR_NOT_SUPPORTED';
}

/**
 * What we were about to send is larger than the peer accepts (its `maxFrameSize`):
 * nothing was sent and the connection is fine. (FrameTooLarge is the peer's frame over
 * our limit, which ends the connection.)
 */
export class MessageTooLarge extends CallError {
  static override readonly kind: string = 'MessageTooLarge';
  static override readonly code: string = 'ERR_MESSAGE_TOO_LARGE';
  constructor(
    readonly size: number,
    readonly limit: number,
    what = 'message',
  ) {
    super(`${what} of ${size} bytes exceeds the peer's limit of ${limit} bytes`);
  }
}

export class ManagerError extends WirecallError {
  static override readonly kind: string = 'ManagerError';
  static override readonly code: string = 'ERR_MANAGER';
}
export class ServiceNotFound extends ManagerError {
  static override readonly kind: string = 'ServiceNotFound';
  static override readonly code: string = 'ERR_SERVICE_NOT_FOUND';
}
export class ServiceAlreadyRegistered extends ManagerError {
  static override readonly kind: string = 'ServiceAlreadyRegistered';
  static override readonly code: string = 'ERR_SERVICE_ALREADY_REGISTERED';
}
export class PoolExhausted extends ManagerError {
  static override readonly kind: string = 'PoolExhausted';
  static override readonly code: string = 'ERR_POOL_EXHAUSTED';
}
export class AcquireTimeout extends ManagerError {
  static override readonly kind: string = 'AcquireTimeout';
  static override readonly code: string = 'ERR_ACQUIRE_TIMEOUT';
}
export class SessionNotFound extends ManagerError {
  static override readonly kind: string = 'SessionNotFound';
  static override readonly code: string = 'ERR_SESSION_NOT_FOUND';
}
export class InvalidSessionState extends ManagerError {
  static override readonly kind: string = 'InvalidSessionState';
  static override readonly code: string = 'ERR_INVALID_SESSION_STATE';
}
/** A session gave up reconnecting: reconnectMaxRetries attempts failed. */
export class ReconnectionFailed extends ManagerError {
  static override readonly kind: string = 'ReconnectionFailed';
  static override readonly code: string = 'ERR_RECONNECTION_FAILED';
}
export class ShutdownError extends ManagerError {
  static override readonly kind: string = 'ShutdownError';
  static override readonly code: string = 'ERR_SHUTDOWN';
}
export class RegistryFileError extends ManagerError {
  static override readonly kind: string = 'RegistryFileError';
  static override readonly code: string = 'ERR_REGISTRY_FILE';
}
export class SerializationError extends ManagerError {
  static override readonly kind: string = 'SerializationError';
  static override readonly code: string = 'ERR_SERIALIZATION';
}
/** A bug in wirecall: an invariant did not hold (in any layer). Please report it. */
export class InternalError extends WirecallError {
  static override readonly kind: string = 'InternalError';
  static override readonly code: string = 'ERR_INTERNAL';
}
