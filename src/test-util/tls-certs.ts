/**
 * Test certificates made with the `openssl` CLI into a temporary directory: EC P-256
 * keys, SHA-256 signatures (never RSA/SHA-1 defaults).
 *
 *   ca          the CA the tests trust; signs server, client, expired, wrongName
 *   otherCa     a CA nobody trusts; signs stranger (server) and strangerClient
 *   server      CN=localhost, SAN DNS:localhost, IP:127.0.0.1
 *   client      CN=render-07, SAN DNS:render-07.studio
 *   expired     like server, but its notAfter was yesterday
 *   wrongName   CN=elsewhere.example, SAN DNS:elsewhere.example only
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface KeyPair {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface TestCerts {
  dir: string;
  ca: string;
  caFile: string;
  otherCa: string;
  server: KeyPair;
  client: KeyPair;
  expired: KeyPair;
  wrongName: KeyPair;
  stranger: KeyPair;
  strangerClient: KeyPair;
  cleanup(): void;
}

/** True when the openssl CLI can be run. */
export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newKey(dir: string, name: string): void {
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`]);
}

function selfSignedCa(dir: string, name: string, cn: string): void {
  newKey(dir, name);
  openssl(dir, ['req', '-x509', '-new', '-key', `${name}.key`, '-sha256', '-days', '2', '-subj', `/CN=${cn}`, '-out', `${name}.pem`]);
}

function issue(dir: string, ca: string, name: string, cn: string, san: string, days: number): KeyPair {
  newKey(dir, name);
  openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', `/O=wirecall tests/CN=${cn}`, '-out', `${name}.csr`]);
  fs.writeFileSync(
    path.join(dir, `${name}.ext`),
    `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n`,
  );
  // A negative -days puts notAfter in the past: an expired certificate.
  const args = ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial'];
  openssl(dir, [...args, '-sha256', '-days', String(days), '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
  const certFile = path.join(dir, `${name}.pem`);
  const keyFile = path.join(dir, `${name}.key`);
  return { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8'), certFile, keyFile };
}

export function makeTestCerts(): TestCerts {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wirecall-tls-'));
  selfSignedCa(dir, 'ca', 'wirecall test CA');
  selfSignedCa(dir, 'other-ca', 'untrusted test CA');
  const caFile = path.join(dir, 'ca.pem');
  return {
    dir,
    ca: fs.readFileSync(caFile, 'utf8'),
    caFile,
    otherCa: fs.readFileSync(path.join(dir, 'other-ca.pem'), 'utf8'),
    server: issue(dir, 'ca', 'server', 'localhost', 'DNS:localhost,IP:127.0.0.1', 2),
    client: issue(dir, 'ca', 'client', 'render-07', 'DNS:render-07.studio', 2),
    expired: issue(dir, 'ca', 'expired', 'localhost', 'DNS:localhost,IP:127.0.0.1', -1),
    wrongName: issue(dir, 'ca', 'wrong-name', 'elsewhere.example', 'DNS:elsewhere.example', 2),
    stranger: issue(dir, 'other-ca', 'stranger', 'localhost', 'DNS:localhost,IP:127.0.0.1', 2),
    strangerClient: issue(dir, 'other-ca', 'stranger-client', 'intruder', 'DNS:intruder.example', 2),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
