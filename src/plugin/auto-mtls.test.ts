/** AutoMTLS certificates: their shape (go-plugin's), the field, and mutual TLS that trusts exactly the peer's certificate. */
import { X509Certificate } from 'node:crypto';
import type net from 'node:net';
import tls from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, buildIfStale } from '../test-util/build.js';
import { hidingPackages, runModule } from '../test-util/node-hooks.js';
import { AUTO_MTLS_SERVER_NAME, autoMTLSClientOptions, autoMTLSServerOptions, generateAutoMTLSCert, parseClientCert, type AutoMTLSCert } from './auto-mtls.js';
import { certFromField } from './cert-field.js';
import { InvalidOption } from '../errors.js';
import { PluginClientCertInvalid } from './errors.js';

/** One TLS round trip between a server and a client with these options; resolves to what each side saw. */
async function roundTrip(
  serverOptions: tls.TlsOptions,
  clientOptions: tls.ConnectionOptions,
): Promise<{ client: 'ok' | Error; server: 'ok' | Error }> {
  let serverResult: 'ok' | Error = new Error('no connection');
  const server = tls.createServer({ ...serverOptions, handshakeTimeout: 5000 }, (socket) => {
    serverResult = socket.authorized ? 'ok' : new Error(String(socket.authorizationError));
    socket.end('hi');
  });
  server.on('tlsClientError', (err) => (serverResult = err));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const client = await new Promise<'ok' | Error>((resolve) => {
      const socket = tls.connect({ ...clientOptions, host: '127.0.0.1', port });
      const timer = setTimeout(() => (socket.destroy(), resolve(new Error('timeout'))), 5000);
      socket.once('error', (err) => (clearTimeout(timer), resolve(err)));
      socket.once('data', () => (clearTimeout(timer), socket.destroy(), resolve('ok')));
      socket.once('close', () => (clearTimeout(timer), resolve(new Error('closed without data'))));
    });
    await new Promise((r) => setTimeout(r, 50));
    return { client, server: serverResult };
  } finally {
    await new Promise((r) => server.close(r));
  }
}

describe('AutoMTLS certificates', () => {
  it("has go-plugin's shape: self-signed CA, CN and SAN localhost, EC P-256, server and client auth; the field is unpadded base64 DER", async () => {
    const cert = await generateAutoMTLSCert();
    const x = new X509Certificate(cert.certPem);
    expect(x.subject).toContain(`CN=${AUTO_MTLS_SERVER_NAME}`);
    expect(x.subjectAltName).toBe('DNS:localhost');
    expect(x.ca).toBe(true);
    expect(x.checkIssued(x)).toBe(true);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(x.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
    expect(Date.parse(x.validFrom)).toBeLessThanOrEqual(Date.now());
    expect(x.checkPrivateKey((await import('node:crypto')).createPrivateKey(cert.keyPem))).toBe(true);
    expect(cert.field).not.toMatch(/=/);
    expect(cert.field.length).toBeGreaterThan(50);
    expect(certFromField(cert.field).certificate.fingerprint256).toBe(x.fingerprint256);
    expect(cert.fingerprint256).toBe(x.fingerprint256);
    const other = await generateAutoMTLSCert();
    expect(other.fingerprint256).not.toBe(cert.fingerprint256);
    expect(other.certPem).not.toBe(cert.certPem);
    const named = new X509Certificate((await generateAutoMTLSCert({ dnsNames: ['render-07.studio', 'localhost'], validFor: 60_000 })).certPem);
    expect(named.subjectAltName).toBe('DNS:render-07.studio, DNS:localhost');
    expect(Date.parse(named.validTo) - Date.now()).toBeLessThan(61_000);
    await expect(generateAutoMTLSCert({ dnsNames: ['a,CN=b'] })).rejects.toBeInstanceOf(InvalidOption);
  });

  it('PLUGIN_CLIENT_CERT: one PEM certificate, else PluginClientCertInvalid', async () => {
    const cert = await generateAutoMTLSCert();
    expect(parseClientCert(cert.certPem).certificate.fingerprint256).toBe(cert.fingerprint256);
    expect(() => parseClientCert('')).toThrow(PluginClientCertInvalid);
    expect(() => parseClientCert(cert.certPem + cert.certPem)).toThrow(/found 2/);
    expect(() => parseClientCert('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----')).toThrow(
      expect.objectContaining({ code: 'ERR_PLUGIN_CLIENT_CERT_INVALID' }),
    );
  });

  describe('mutual TLS between exactly the two certificates', () => {
    let host: AutoMTLSCert;
    let plugin: AutoMTLSCert;
    let stranger: AutoMTLSCert;
    it('makes three certificates', async () => {
      [host, plugin, stranger] = await Promise.all([generateAutoMTLSCert(), generateAutoMTLSCert(), generateAutoMTLSCert()]);
    });

    it('host and plugin reach each other', async () => {
      const r = await roundTrip(autoMTLSServerOptions(plugin, host.certPem), autoMTLSClientOptions(host, plugin.certPem));
      expect(r).toEqual({ client: 'ok', server: 'ok' });
    });

    it('the host refuses a server that presents another certificate than the one announced', async () => {
      const r = await roundTrip(autoMTLSServerOptions(stranger, host.certPem), autoMTLSClientOptions(host, plugin.certPem));
      expect(r.client).toBeInstanceOf(Error);
      expect((r.client as Error & { code?: string }).code).toMatch(/SELF_SIGNED|UNABLE_TO|CERT_REJECTED/);
    });

    it('the host refuses the right key under a re-issued certificate (pinned, not just trusted)', async () => {
      // The announced certificate is trusted as a CA; the pin still wants that very certificate.
      const r = await roundTrip(autoMTLSServerOptions(plugin, host.certPem), {
        ...autoMTLSClientOptions(host, plugin.certPem),
        ca: [plugin.certPem, stranger.certPem],
        checkServerIdentity: autoMTLSClientOptions(host, stranger.certPem).checkServerIdentity!,
      });
      expect((r.client as Error & { code?: string }).code).toBe('CERT_REJECTED');
    });

    it('the plugin refuses a client whose certificate is not the host’s, and one without a certificate', async () => {
      const wrong = await roundTrip(autoMTLSServerOptions(plugin, host.certPem), autoMTLSClientOptions(stranger, plugin.certPem));
      expect(wrong.server).toBeInstanceOf(Error);
      expect(wrong.client).toBeInstanceOf(Error);
      const { cert: _c, key: _k, ...anonymous } = autoMTLSClientOptions(host, plugin.certPem);
      const none = await roundTrip(autoMTLSServerOptions(plugin, host.certPem), anonymous);
      expect(none.server).toBeInstanceOf(Error);
      expect(none.client).toBeInstanceOf(Error);
    });
  });
});

/**
 * Runs dist's generateAutoMTLSCert in a node where `hidden` cannot be resolved (a module
 * resolve hook, as if it were not installed); resolves to the error's code and message.
 */
async function withoutPackage(hidden: string): Promise<string> {
  const script = `const m = await import(${JSON.stringify(`${ROOT}dist/src/plugin/index.js`)}); await m.generateAutoMTLSCert().then(() => console.log('made'), (e) => console.log(e.code + ' ' + e.message));`;
  return (await runModule(script, hidingPackages([hidden]), 15_000)).stdout.trim();
}

describe('AutoMTLS without its optional packages', () => {
  beforeAll(buildIfStale, 120_000);

  it('@peculiar/x509 missing: PluginAutoMTLSUnavailable saying what to install', async () => {
    expect(await withoutPackage('@peculiar/x509')).toMatch(/^ERR_PLUGIN_AUTO_MTLS_UNAVAILABLE AutoMTLS needs the optional peer dependency @peculiar\/x509: npm install @peculiar\/x509 reflect-metadata/);
  });

  it('no Reflect polyfill: PluginAutoMTLSUnavailable naming reflect-metadata', async () => {
    expect(await withoutPackage('reflect-metadata')).toMatch(/^ERR_PLUGIN_AUTO_MTLS_UNAVAILABLE AutoMTLS needs a Reflect polyfill for @peculiar\/x509: npm install reflect-metadata/);
  });

  it('control: with both installed the same child makes a certificate', async () => {
    expect(await withoutPackage('nothing-hidden')).toBe('made');
  });
});
