/**
 * AutoMTLS certificates, as HashiCorp go-plugin makes and trusts them (its mtls.go,
 * client.go, server.go): each side makes a one-time self-signed certificate; the host
 * passes its own PEM to the plugin in PLUGIN_CLIENT_CERT, the plugin answers with its
 * leaf DER as unpadded base64 in the handshake line's SERVER-CERT field, and each side
 * trusts exactly the other's certificate — the plugin requires it from every client.
 *
 * The certificates: ECDSA P-256 with SHA-256 (go-plugin uses P-521; Go accepts either),
 * subject `CN=localhost`, SAN `DNS:localhost` (go-plugin's hosts verify the plugin's
 * certificate against the name `localhost`), serverAuth and clientAuth, a CA of its own
 * (go-plugin trusts the peer's certificate as its CA pool), valid from 30 s ago.
 *
 * Node cannot create X.509 certificates: `@peculiar/x509` does (an optional peer
 * dependency, with a Reflect polyfill such as `reflect-metadata`), loaded on first use
 * only; missing, every function that makes a certificate rejects with
 * PluginAutoMTLSUnavailable. Everything else here uses node:crypto only.
 */
import { X509Certificate, randomBytes, webcrypto } from 'node:crypto';
import type tls from 'node:tls';
import { InvalidOption } from '../errors.js';
import { errorMessage } from '../util/error-message.js';
import { certField } from './cert-field.js';
import { PluginAutoMTLSUnavailable, PluginClientCertInvalid } from './errors.js';

/** The name both certificates carry and the host checks the plugin's against (go-plugin's `localhost`). */
export const AUTO_MTLS_SERVER_NAME = 'localhost';
/** go-plugin's validity: 262 980 hours (30 years). */
const DEFAULT_VALIDITY_MS = 262_980 * 3_600_000;
/** Valid from a little before now, as go-plugin does, against small clock differences. */
const BACKDATE_MS = 30_000;

/** One side's ephemeral certificate and key. */
export interface AutoMTLSCert {
  /** The certificate, PEM (what the host puts in PLUGIN_CLIENT_CERT). */
  readonly certPem: string;
  /** Its private key, PKCS#8 PEM. Keep it in memory. */
  readonly keyPem: string;
  /** The certificate's DER bytes. */
  readonly der: Buffer;
  /** Unpadded standard base64 of the DER: the SERVER-CERT field of the handshake line. */
  readonly field: string;
  /** SHA-256 fingerprint, `AB:CD:…` (as TLS peers report it). */
  readonly fingerprint256: string;
}

export interface AutoMTLSCertOptions {
  /** DNS names in the certificate; the first is also its CN. Default [`localhost`]. */
  dnsNames?: readonly string[];
  /** Milliseconds it stays valid from now. Default go-plugin's 30 years. */
  validFor?: number;
  /** Organization in the subject. Default `wirecall`. */
  organization?: string;
}

type X509Module = typeof import('@peculiar/x509');
let loading: Promise<X509Module> | undefined;

/**
 * Loads @peculiar/x509 (and a Reflect polyfill it needs) once. Rejects with
 * PluginAutoMTLSUnavailable. Not exported: its type would make the shipped .d.ts need
 * the optional package.
 */
function loadX509(): Promise<X509Module> {
  loading ??= (async () => {
    const reflect = Reflect as unknown as { getMetadata?: unknown };
    if (typeof reflect.getMetadata !== 'function') {
      try {
        await import('reflect-metadata');
      } catch (err) {
        throw new PluginAutoMTLSUnavailable(
          `AutoMTLS needs a Reflect polyfill for @peculiar/x509: npm install reflect-metadata (or load core-js/full/reflect or @abraham/reflection first) (${errorMessage(err)})`,
          { cause: err },
        );
      }
    }
    try {
      const x509 = await import('@peculiar/x509');
      x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
      return x509;
    } catch (err) {
      throw new PluginAutoMTLSUnavailable(`AutoMTLS needs the optional peer dependency @peculiar/x509: npm install @peculiar/x509 reflect-metadata (${errorMessage(err)})`, {
        cause: err,
      });
    }
  })();
  // A failed load may be fixed by installing the package: try again next time.
  loading.catch(() => (loading = undefined));
  return loading;
}

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A fresh self-signed ECDSA P-256 certificate and key, for one host or plugin process. */
export async function generateAutoMTLSCert(options: AutoMTLSCertOptions = {}): Promise<AutoMTLSCert> {
  const x509 = await loadX509();
  const names = options.dnsNames ?? [AUTO_MTLS_SERVER_NAME];
  const validFor = options.validFor ?? DEFAULT_VALIDITY_MS;
  const org = options.organization ?? 'wirecall';
  const cn = names[0] ?? AUTO_MTLS_SERVER_NAME;
  for (const v of [...names, org]) {
    if (!/^[A-Za-z0-9 .*_-]+$/.test(v)) throw new InvalidOption(`AutoMTLS certificate: ${JSON.stringify(v)} is not a plain name`);
  }
  const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f; // positive
  const now = Date.now();
  const { KeyUsageFlags: K, ExtendedKeyUsage: E } = x509;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: `CN=${cn}, O=${org}`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + validFor),
    signingAlgorithm: EC,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(K.digitalSignature | K.keyEncipherment | K.keyAgreement | K.keyCertSign, true),
      new x509.ExtendedKeyUsageExtension([E.serverAuth, E.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns' as const, value }))),
    ],
  });
  const der = Buffer.from(cert.rawData);
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const certPem = pem('CERTIFICATE', der);
  return {
    certPem,
    keyPem: pem('PRIVATE KEY', pkcs8),
    der,
    field: certField(der),
    fingerprint256: new X509Certificate(der).fingerprint256,
  };
}

/**
 * PLUGIN_CLIENT_CERT (the host's certificate, PEM) as the plugin reads it. Throws
 * PluginClientCertInvalid when it is not one PEM certificate.
 */
export function parseClientCert(value: string): { pem: string; certificate: X509Certificate } {
  const blocks = value.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length !== 1) {
    throw new PluginClientCertInvalid(`PLUGIN_CLIENT_CERT must hold one PEM certificate, found ${blocks.length}`);
  }
  try {
    const certificate = new X509Certificate(blocks[0]!);
    return { pem: certificate.toString(), certificate };
  } catch (err) {
    throw new PluginClientCertInvalid(`PLUGIN_CLIENT_CERT is not a readable certificate: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Node TLS options for the plugin's server: our certificate, and a client certificate
 * required and trusted only if it is the host's (`peerPem`), as go-plugin's
 * RequireAndVerifyClientCert with the host's certificate as the only CA.
 * Fits tls.createServer, and wirecall's TlsServerOptions.
 */
export function autoMTLSServerOptions(own: AutoMTLSCert, peerPem: string): tls.TlsOptions & {
  cert: string;
  key: string;
  ca: string[];
  requestCert: true;
  rejectUnauthorized: true;
  minVersion: 'TLSv1.2';
} {
  return { cert: own.certPem, key: own.keyPem, ca: [peerPem], requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' };
}

/**
 * Node TLS options for the host's client: our certificate, and the server accepted only
 * if it presents exactly the certificate the plugin announced (`peerPem`) under the name
 * `localhost`. Fits tls.connect (add host/port or path); `cert`, `key`, `ca`, `servername`
 * and `minVersion` are also wirecall's TlsClientOptions.
 */
export function autoMTLSClientOptions(own: AutoMTLSCert, peerPem: string): tls.ConnectionOptions & {
  cert: string;
  key: string;
  ca: string[];
  servername: string;
  minVersion: 'TLSv1.2';
} {
  const pinned = new X509Certificate(peerPem).fingerprint256;
  return {
    cert: own.certPem,
    key: own.keyPem,
    ca: [peerPem],
    servername: AUTO_MTLS_SERVER_NAME,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    checkServerIdentity: (_host, cert) => {
      if (cert.fingerprint256 !== pinned) {
        return Object.assign(new Error(`the plugin presented certificate ${cert.fingerprint256}, not the one it announced (${pinned})`), {
          code: 'CERT_REJECTED',
        });
      }
      return undefined;
    },
  };
}

function pem(label: string, der: Buffer): string {
  const body = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}
