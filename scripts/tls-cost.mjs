#!/usr/bin/env node
/**
 * The throughput cost of TLS, measured once (not a test, asserts nothing): the same
 * server and client over plain TCP and over TLS (TLS 1.3, mutual TLS, EC P-256 certs
 * made by openssl), on 127.0.0.1. Small calls with 256 in flight, and 64 KiB calls with
 * 16 in flight. Run after `npm run build`:   node scripts/tls-cost.mjs [seconds]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, createServer } from '../dist/src/index.js';

const seconds = Number(process.argv[2] ?? 3);
const certs = makeCerts();

/** A CA, a server (localhost, 127.0.0.1) and a client certificate: EC P-256, SHA-256. */
function makeCerts() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wirecall-tls-cost-'));
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const key = (name) => ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`);
  key('ca');
  ssl('req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '1', '-subj', '/CN=tls-cost CA', '-out', 'ca.pem');
  const read = (f) => fs.readFileSync(path.join(dir, f), 'utf8');
  const issue = (name, san) => {
    key(name);
    ssl('req', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-out', `${name}.csr`);
    fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\n`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-sha256', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
    return { cert: read(`${name}.pem`), key: read(`${name}.key`) };
  };
  return {
    ca: read('ca.pem'),
    server: issue('server', 'DNS:localhost,IP:127.0.0.1'),
    client: issue('client', 'DNS:client'),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

async function run(mode, payload, inFlight) {
  const tls = mode === 'tls';
  const server = createServer({ heartbeatInterval: 0, ...(tls ? { tls: { cert: certs.server.cert, key: certs.server.key, ca: certs.ca, requestCert: true } } : {}) });
  server.register('echo', (p) => p);
  const url = await server.listen(tls ? 'tls://127.0.0.1:0' : 'tcp://127.0.0.1:0');
  const c = await connect(url, { heartbeatInterval: 0, ...(tls ? { tls: { ca: certs.ca, cert: certs.client.cert, key: certs.client.key } } : {}) });
  // Warm up, then count the calls finished in `seconds`.
  for (let i = 0; i < 2000; i++) await c.call('echo', payload);
  let done = 0;
  const until = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < until) {
      await c.call('echo', payload);
      done++;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsed = (performance.now() - start) / 1000;
  await c.close({ drainTimeout: 0 });
  await server.close({ drainTimeout: 0 });
  return done / elapsed;
}

const cases = [
  ['small (16 B), 256 in flight', Buffer.alloc(16, 1), 256],
  ['64 KiB, 16 in flight', Buffer.alloc(64 * 1024, 1), 16],
];
console.log(`node ${process.version}, ${seconds} s per run, runs interleaved tcp/tls/tcp/tls`);
for (const [name, payload, inFlight] of cases) {
  const r = { tcp: [], tls: [] };
  for (let round = 0; round < 2; round++) {
    for (const mode of ['tcp', 'tls']) r[mode].push(await run(mode, payload, inFlight));
  }
  const best = (xs) => Math.max(...xs);
  const mb = (calls) => (payload.length * 2 * calls) / 1e6;
  const line = (mode) => `${mode} ${Math.round(best(r[mode])).toLocaleString('en')} calls/s (${mb(best(r[mode])).toFixed(1)} MB/s both ways)`;
  console.log(`${name}: ${line('tcp')}; ${line('tls')}; tls/tcp ${(best(r.tls) / best(r.tcp)).toFixed(2)}`);
}
certs.cleanup();
