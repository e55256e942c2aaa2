/**
 * Certificates for the benchmark's TLS transport: a CA, a server certificate for
 * localhost/127.0.0.1 and a client certificate (EC P-256, SHA-256, made by the openssl
 * CLI through the tests' helper). Made once by the parent process; the children it
 * forks read the same files through WIRECALL_BENCH_TLS_DIR, so every system on the TLS
 * transport runs mutual TLS with the same keys.
 */
import fs from 'node:fs';
import path from 'node:path';
import { makeTestCerts } from '../../src/test-util/tls-certs.js';

const DIR_VARIABLE = 'WIRECALL_BENCH_TLS_DIR';

export interface BenchCerts {
  ca: string;
  server: { cert: string; key: string };
  client: { cert: string; key: string };
}

let cached: BenchCerts | undefined;

/** The run's certificates: made here on first use in the parent, read from its directory in a child. */
export function benchCerts(): BenchCerts {
  if (cached !== undefined) return cached;
  let dir = process.env[DIR_VARIABLE];
  if (dir === undefined) {
    const made = makeTestCerts();
    dir = made.dir;
    // Children inherit the environment; the directory goes when this process exits.
    process.env[DIR_VARIABLE] = dir;
    process.on('exit', () => made.cleanup());
  }
  const read = (name: string): string => fs.readFileSync(path.join(dir, name), 'utf8');
  cached = {
    ca: read('ca.pem'),
    server: { cert: read('server.pem'), key: read('server.key') },
    client: { cert: read('client.pem'), key: read('client.key') },
  };
  return cached;
}
