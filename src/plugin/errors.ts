/**
 * The errors of wirecall/plugin, under the one wirecall hierarchy (src/errors.ts):
 *
 *   WirecallError
 *   └── PluginError                     launching a plugin process failed (ERR_PLUGIN)
 *       ├── PluginStartFailed           the process could not be started (ENOENT, EACCES)
 *       ├── PluginExited                it exited before its handshake line (last stderr lines kept)
 *       ├── PluginHandshakeTimeout      no handshake line within handshakeTimeout
 *       ├── PluginHandshakeInvalid      the first stdout line is not a handshake line
 *       ├── PluginVersionMismatch       core version not 1, or an app version the host did not offer
 *       ├── PluginProtocolMismatch      a PROTOCOL (grpc, netrpc) or TLS this host does not speak
 *       ├── PluginAutoMTLSUnavailable   AutoMTLS asked for, but @peculiar/x509 (or a Reflect polyfill) is missing
 *       └── PluginClientCertInvalid     the plugin's PLUGIN_CLIENT_CERT is not one PEM certificate
 *
 * A failure after the handshake (connecting to the announced address) is wirecall's own
 * TransportError (ConnectionFailed, HandshakeTimeout, …). In every case the process has
 * been stopped before the error is thrown.
 */
import { WirecallError, type WirecallErrorOptions } from '../errors.js';

export class PluginError extends WirecallError {
  static override readonly kind: string = 'PluginError';
  static override readonly code: string = 'ERR_PLUGIN';
}

/** spawn() failed: the command is missing or not executable. */
export class PluginStartFailed extends PluginError {
  static override readonly kind: string = 'PluginStartFailed';
  static override readonly code: string = 'ERR_PLUGIN_START_FAILED';
}

/** The process exited (or was killed) before printing its handshake line. */
export class PluginExited extends PluginError {
  static override readonly kind: string = 'PluginExited';
  static override readonly code: string = 'ERR_PLUGIN_EXITED';
  constructor(
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    /** Its last stderr lines, oldest first. */
    readonly stderr: readonly string[],
  ) {
    super(`plugin exited (${exitCode === null ? `signal ${signal ?? '?'}` : `code ${exitCode}`}) before its handshake line${tail(stderr)}`);
  }
}

export class PluginHandshakeTimeout extends PluginError {
  static override readonly kind: string = 'PluginHandshakeTimeout';
  static override readonly code: string = 'ERR_PLUGIN_HANDSHAKE_TIMEOUT';
  constructor(
    readonly timeout: number,
    readonly stderr: readonly string[],
  ) {
    super(`plugin printed no handshake line within ${timeout} ms${tail(stderr)}`);
  }
}

/** The first stdout line is not `CORE|APP-VERSION|NETWORK|ADDRESS|PROTOCOL|SERVER-CERT`. */
export class PluginHandshakeInvalid extends PluginError {
  static override readonly kind: string = 'PluginHandshakeInvalid';
  static override readonly code: string = 'ERR_PLUGIN_HANDSHAKE_INVALID';
  constructor(
    readonly line: string,
    reason: string,
    options?: WirecallErrorOptions,
  ) {
    super(`unrecognized plugin handshake line ${JSON.stringify(line.slice(0, 200))}: ${reason}`, options);
  }
}

export class PluginVersionMismatch extends PluginError {
  static override readonly kind: string = 'PluginVersionMismatch';
  static override readonly code: string = 'ERR_PLUGIN_VERSION_MISMATCH';
  constructor(
    /** `core`: go-plugin's core protocol (always 1); `app`: the application protocol. */
    readonly which: 'core' | 'app',
    readonly got: number,
    readonly supported: readonly number[],
  ) {
    super(
      which === 'core'
        ? `incompatible core protocol version ${got} from the plugin (this host speaks ${supported.join(', ')})`
        : `the plugin chose app protocol version ${got}, which this host did not offer (offered: ${supported.join(', ')})`,
    );
  }
}

export class PluginProtocolMismatch extends PluginError {
  static override readonly kind: string = 'PluginProtocolMismatch';
  static override readonly code: string = 'ERR_PLUGIN_PROTOCOL_MISMATCH';
}

/** AutoMTLS was asked for, but the optional peer dependency @peculiar/x509 (or the Reflect polyfill it needs) is missing. */
export class PluginAutoMTLSUnavailable extends PluginError {
  static override readonly kind: string = 'PluginAutoMTLSUnavailable';
  static override readonly code: string = 'ERR_PLUGIN_AUTO_MTLS_UNAVAILABLE';
}

/** Plugin side: PLUGIN_CLIENT_CERT (the host's AutoMTLS certificate) is not one readable PEM certificate. */
export class PluginClientCertInvalid extends PluginError {
  static override readonly kind: string = 'PluginClientCertInvalid';
  static override readonly code: string = 'ERR_PLUGIN_CLIENT_CERT_INVALID';
}

function tail(stderr: readonly string[]): string {
  return stderr.length === 0 ? '; stderr was empty' : `; last stderr lines:\n${stderr.join('\n')}`;
}
