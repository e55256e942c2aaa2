import { describe, expect, it } from 'vitest';
import { WirecallError } from '../errors.js';
import * as plugin from './index.js';
import { PluginError, PluginHandshakeInvalid, PluginProtocolMismatch, PluginVersionMismatch } from './errors.js';
import { checkHandshake, chooseAppVersion, endpointOfLine, formatHandshakeLine, parseHandshakeLine } from './handshake.js';

describe('the handshake line', () => {
  it('parses what a wirecall plugin prints and round-trips', () => {
    const line = formatHandshakeLine({ appVersion: 2, network: 'unix', address: '/tmp/d/plugin1', protocol: 'wirecall' });
    expect(line).toBe('1|2|unix|/tmp/d/plugin1|wirecall|');
    expect(parseHandshakeLine(`${line}\r\n`)).toEqual({
      coreVersion: 1,
      appVersion: 2,
      network: 'unix',
      address: '/tmp/d/plugin1',
      protocol: 'wirecall',
      serverCert: '',
      multiplex: false,
    });
    expect(endpointOfLine(parseHandshakeLine('1|1|tcp|127.0.0.1:1234|grpc|'))).toBe('tcp://127.0.0.1:1234');
    expect(endpointOfLine(parseHandshakeLine('1|1|tcp|[::1]:1234|wirecall|'))).toBe('tcp://[::1]:1234');
  });

  it("follows go-plugin's host: 4 fields are enough (protocol netrpc), a cert of ≤ 50 characters is absent, a 7th field true is multiplexing", () => {
    expect(parseHandshakeLine('1|1|tcp|127.0.0.1:1').protocol).toBe('netrpc');
    expect(parseHandshakeLine('1|1|tcp|127.0.0.1:1|grpc|short').serverCert).toBe('');
    const cert = 'A'.repeat(51);
    expect(parseHandshakeLine(`1|1|tcp|127.0.0.1:1|grpc|${cert}|true`)).toMatchObject({ serverCert: cert, multiplex: true });
  });

  it.each([
    ['', '1 field'],
    ['hello world', '1 field'],
    ['1|1|unix', '3 field'],
    ['x|1|unix|/s|wirecall|', 'core version'],
    ['1|one|unix|/s|wirecall|', 'app version'],
    ['1|1|udp|/s|wirecall|', 'unknown network'],
    ['1|1|unix||wirecall|', 'empty address'],
    ['1|1|tcp|localhost|wirecall|', 'not host:port'],
    ['1|1|tcp|1.2.3.4:99999999|wirecall|', 'not host:port'],
  ])('refuses %j (%s) with PluginHandshakeInvalid', (text, reason) => {
    const err = catchError(() => parseHandshakeLine(text));
    expect(err).toBeInstanceOf(PluginHandshakeInvalid);
    expect(err).toBeInstanceOf(PluginError);
    expect(err).toBeInstanceOf(WirecallError);
    expect((err as PluginHandshakeInvalid).code).toBe('ERR_PLUGIN_HANDSHAKE_INVALID');
    expect((err as Error).message).toContain(reason);
  });

  it('the host refuses another core version, an app version it did not offer, another protocol, TLS and multiplexing', () => {
    const ok = parseHandshakeLine('1|2|unix|/s|wirecall|');
    expect(() => checkHandshake(ok, [1, 2])).not.toThrow();
    const core = catchError(() => checkHandshake({ ...ok, coreVersion: 2 }, [1, 2]));
    expect(core).toBeInstanceOf(PluginVersionMismatch);
    expect(core).toMatchObject({ code: 'ERR_PLUGIN_VERSION_MISMATCH', which: 'core', got: 2 });
    expect(catchError(() => checkHandshake(ok, [1]))).toMatchObject({ which: 'app', got: 2, supported: [1] });
    for (const bad of [{ protocol: 'grpc' }, { serverCert: 'A'.repeat(60) }, { multiplex: true }]) {
      const err = catchError(() => checkHandshake({ ...ok, ...bad }, [2]));
      expect(err).toBeInstanceOf(PluginProtocolMismatch);
      expect(err).toMatchObject({ code: 'ERR_PLUGIN_PROTOCOL_MISMATCH' });
    }
    // AutoMTLS: a certificate is then required, and accepted.
    expect(() => checkHandshake({ ...ok, serverCert: 'A'.repeat(60) }, [2], undefined, { autoMTLS: true })).not.toThrow();
    expect(catchError(() => checkHandshake(ok, [2], undefined, { autoMTLS: true }))).toBeInstanceOf(PluginProtocolMismatch);
  });
});

describe('the plugin picks its app version like go-plugin', () => {
  it('the highest one in common, else its own highest', () => {
    expect(chooseAppVersion('1,2,3', [1, 2])).toBe(2);
    expect(chooseAppVersion(' 3 , 1', [1, 2, 3])).toBe(3);
    expect(chooseAppVersion('5,6', [1, 2])).toBe(2);
    expect(chooseAppVersion(undefined, [1, 4])).toBe(4);
    expect(chooseAppVersion('garbage', [1])).toBe(1);
  });
});

describe('wirecall/plugin exports', () => {
  it('lists exactly these runtime exports (a new one is a deliberate change)', () => {
    expect(Object.keys(plugin).sort()).toEqual(
      [
        'AUTO_MTLS_SERVER_NAME',
        'CORE_PROTOCOL_VERSION',
        'DEFAULT_HANDSHAKE',
        'NOT_A_COMMAND_MESSAGE',
        'PluginAutoMTLSUnavailable',
        'PluginClientCertInvalid',
        'PluginError',
        'PluginExited',
        'PluginHandshakeInvalid',
        'PluginHandshakeTimeout',
        'PluginProtocolMismatch',
        'PluginStartFailed',
        'PluginVersionMismatch',
        'WIRECALL_PROTOCOL',
        'autoMTLSClientOptions',
        'autoMTLSServerOptions',
        'certField',
        'certFromField',
        'chooseAppVersion',
        'formatHandshakeLine',
        'generateAutoMTLSCert',
        'launchPlugin',
        'parseClientCert',
        'parseHandshakeLine',
        'servePlugin',
      ].sort(),
    );
  });

  it('every error has a stable code and its kind as name', () => {
    const codes = {
      PluginError: 'ERR_PLUGIN',
      PluginStartFailed: 'ERR_PLUGIN_START_FAILED',
      PluginExited: 'ERR_PLUGIN_EXITED',
      PluginHandshakeTimeout: 'ERR_PLUGIN_HANDSHAKE_TIMEOUT',
      PluginHandshakeInvalid: 'ERR_PLUGIN_HANDSHAKE_INVALID',
      PluginVersionMismatch: 'ERR_PLUGIN_VERSION_MISMATCH',
      PluginProtocolMismatch: 'ERR_PLUGIN_PROTOCOL_MISMATCH',
    };
    for (const [name, code] of Object.entries(codes)) {
      const cls = (plugin as unknown as Record<string, { code: string; kind: string }>)[name]!;
      expect(cls.code).toBe(code);
      expect(cls.kind).toBe(name);
    }
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}
