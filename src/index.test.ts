/**
 * The package entry's runtime exports, exactly. Adding or removing one is a change to
 * the public API: make it here on purpose, together with README.md.
 */
import { describe, expect, it } from 'vitest';
import * as wirecall from './index.js';

const ERRORS = [
  'WirecallError',
  'InvalidEndpoint',
  'InvalidOption',
  'TransportError',
  'ConnectionFailed',
  'ConnectionTimeout',
  'HandshakeTimeout',
  'ConnectionClosed',
  'ConnectionLost',
  'AddressInUse',
  'FrameTooLarge',
  'ProtocolError',
  'HandshakeRejected',
  'LimitExceeded',
  'TlsError',
  'CertificateUntrusted',
  'CertificateNameMismatch',
  'CertificateExpired',
  'ClientCertificateRequired',
  'TlsRequired',
  'TlsNotOffered',
  'CallError',
  'RemoteError',
  'DeadlineExceeded',
  'CallCancelled',
  'InvalidArgument',
  'StreamClosed',
  'NotSupported',
  'MessageTooLarge',
  'ManagerError',
  'ServiceNotFound',
  'ServiceAlreadyRegistered',
  'PoolExhausted',
  'AcquireTimeout',
  'SessionNotFound',
  'InvalidSessionState',
  'ReconnectionFailed',
  'ShutdownError',
  'RegistryFileError',
  'SerializationError',
  'InternalError',
];

const REST = [
  'Status',
  'statusName',
  'parseEndpoint',
  'formatEndpoint',
  'Connection',
  'connect',
  'createServer',
  'Server',
  'HandlerRegistry',
  'dccLinkEndpoint',
  'dccLinkSocketPath',
];

describe("'wirecall' exports", () => {
  it('exactly the public names, nothing internal', () => {
    expect(Object.keys(wirecall).sort()).toEqual([...ERRORS, ...REST].sort());
  });

  it('every error class of errors.ts, each a WirecallError', async () => {
    const errors = await import('./errors.js');
    const classes = Object.entries(errors).filter(([, value]) => typeof value === 'function').map(([name]) => name);
    expect(classes.sort()).toEqual([...ERRORS].sort());
    for (const name of ERRORS) {
      const ErrorClass = (wirecall as Record<string, unknown>)[name] as typeof wirecall.WirecallError;
      expect(ErrorClass === wirecall.WirecallError || wirecall.WirecallError.prototype.isPrototypeOf(ErrorClass.prototype), name).toBe(true);
    }
  });
});
