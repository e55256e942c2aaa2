/**
 * The SERVER-CERT field of the handshake line (AutoMTLS, step one): the plugin's leaf
 * certificate as base64 of its DER bytes **without padding** — a Go host fails on `=`
 * ("illegal base64 data") — and back to PEM for the host. Making the certificates is
 * not here yet (Node cannot create X.509; docs/PLUGINS.md).
 */
import { X509Certificate } from 'node:crypto';
import { PluginHandshakeInvalid } from './errors.js';

/** PEM (the first certificate in it) → unpadded standard base64 of the DER. */
export function certField(pem: string | Buffer): string {
  const der = new X509Certificate(pem).raw;
  return der.toString('base64').replace(/=+$/, '');
}

/**
 * A SERVER-CERT field → the certificate (PEM and parsed). Accepts padding too, as Go's
 * decoder on the host side does not but a lenient reader may. Throws PluginHandshakeInvalid.
 */
export function certFromField(field: string, line = field): { pem: string; certificate: X509Certificate } {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(field)) throw new PluginHandshakeInvalid(line, 'SERVER-CERT is not base64');
  const der = Buffer.from(field, 'base64');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(der);
  } catch (err) {
    throw new PluginHandshakeInvalid(line, 'SERVER-CERT is not a DER certificate', { cause: err });
  }
  const body = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return { pem: `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----\n`, certificate };
}
