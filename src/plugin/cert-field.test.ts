/** SERVER-CERT: unpadded base64 DER both ways, with a certificate made by the openssl CLI (skipped without it). */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { certField, certFromField } from './cert-field.js';
import { PluginHandshakeInvalid } from './errors.js';
import { parseHandshakeLine } from './handshake.js';

function opensslCert(): string | undefined {
  try {
    // go-plugin's AutoMTLS shape: ECDSA P-256, self-signed CA, SAN localhost, client+server auth.
    const out = execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null',
        '-days', '1', '-subj', '/O=HashiCorp/CN=localhost',
        '-addext', 'subjectAltName=DNS:localhost', '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'extendedKeyUsage=serverAuth,clientAuth',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 },
    );
    return out;
  } catch {
    return undefined;
  }
}

const pem = process.platform === 'win32' ? undefined : opensslCert();
if (pem === undefined) console.warn('cert-field.test.ts: no openssl CLI; the certificate round trip is skipped');

describe('the SERVER-CERT field', () => {
  it.skipIf(pem === undefined)('is the DER in base64 without padding, and reads back to the same certificate', () => {
    const field = certField(pem!);
    expect(field).not.toMatch(/=/);
    expect(field.length).toBeGreaterThan(50); // else go-plugin's host treats it as absent
    const original = new X509Certificate(pem!);
    expect(Buffer.from(field, 'base64').equals(original.raw)).toBe(true);
    const back = certFromField(field);
    expect(back.certificate.fingerprint256).toBe(original.fingerprint256);
    expect(new X509Certificate(back.pem).fingerprint256).toBe(original.fingerprint256);
    expect(back.certificate.checkHost('localhost')).toBe('localhost');
    // It survives the handshake line's parsing.
    expect(parseHandshakeLine(`1|1|unix|/s|grpc|${field}`).serverCert).toBe(field);
    // A padded field (what Go refuses) is still read here.
    const padded = original.raw.toString('base64');
    expect(certFromField(padded).certificate.fingerprint256).toBe(original.fingerprint256);
  });

  it('refuses what is not base64 or not a certificate', () => {
    expect(() => certFromField('not base64!')).toThrow(PluginHandshakeInvalid);
    expect(() => certFromField(Buffer.from('hello, not DER at all, just some bytes to decode').toString('base64'))).toThrow(
      /not a DER certificate/,
    );
  });
});
