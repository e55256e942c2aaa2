/**
 * Certificates for the netns hosts, made with the openssl CLI (EC P-256, SHA-256, as
 * src/test-util/tls-certs.ts makes the others): one CA, a server certificate per
 * service host naming its IP address, and a client certificate for mutual TLS.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface HostCerts {
  dir: string;
  caFile: string;
  /** Server certificate and key files of a service host, by host name. */
  server(host: string): { certFile: string; keyFile: string };
  client: { certFile: string; keyFile: string };
  cleanup(): void;
}

export function makeHostCerts(servers: Record<string, string>): HostCerts {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wirecall-netns-tls-'));
  const openssl = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const key = (name: string): void => openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`]);
  key('ca');
  openssl(['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '2', '-subj', '/CN=netns test CA', '-out', 'ca.pem']);
  const issue = (name: string, cn: string, san: string): { certFile: string; keyFile: string } => {
    key(name);
    openssl(['req', '-new', '-key', `${name}.key`, '-subj', `/O=wirecall netns/CN=${cn}`, '-out', `${name}.csr`]);
    fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n`);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-sha256', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
    return { certFile: path.join(dir, `${name}.pem`), keyFile: path.join(dir, `${name}.key`) };
  };
  const byHost = new Map(Object.entries(servers).map(([host, address]) => [host, issue(`server-${host}`, host, `IP:${address},DNS:${host}`)]));
  const client = issue('client', 'netns-client', 'DNS:netns-client');
  return {
    dir,
    caFile: path.join(dir, 'ca.pem'),
    server(host) {
      const pair = byHost.get(host);
      if (pair === undefined) throw new Error(`no certificate for ${host}`);
      return pair;
    },
    client,
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
