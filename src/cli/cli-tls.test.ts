/**
 * The CLI over TLS: `serve tls://… --tls-cert --tls-key [--tls-ca]` and call / ping /
 * notify with --tls-* flags, in child processes running the compiled CLI, with
 * certificates made by openssl for this run. Failures exit 3 with their own code.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildIfStale } from '../test-util/build.js';
import { runCli, serveDemo } from '../test-util/cli-child.js';
import { Scratch } from '../test-util/scratch.js';
import { makeTestCerts, type TestCerts } from '../test-util/tls-certs.js';

const scratch = new Scratch();
let certs: TestCerts;

beforeAll(async () => {
  certs = makeTestCerts();
  await buildIfStale();
}, 120_000);
afterAll(() => certs.cleanup());
afterEach(() => scratch.cleanup());

const serverFiles = (): string[] => ['--tls-cert', certs.server.certFile, '--tls-key', certs.server.keyFile];
const clientFiles = (): string[] => ['--tls-ca', certs.caFile, '--tls-cert', certs.client.certFile, '--tls-key', certs.client.keyFile];

describe('CLI over TLS', () => {
  it('serve tls:// with --tls-ca is mutual TLS: call, ping and notify with a client certificate', async () => {
    const demo = await serveDemo(scratch, ['tls://127.0.0.1:0', ...serverFiles(), '--tls-ca', certs.caFile]);
    expect(demo.endpoint).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
    const call = await runCli(['call', demo.endpoint, 'add', '{"a":2,"b":3}', ...clientFiles()]);
    expect(call.stderr).toBe('');
    expect(call.stdout.trim()).toBe('5');
    expect(call.code).toBe(0);
    const ping = await runCli(['ping', demo.endpoint, '--count', '1', ...clientFiles()]);
    expect(ping.code).toBe(0);
    const notify = await runCli(['notify', demo.endpoint, 'note', '"hi"', ...clientFiles()]);
    expect(notify.code).toBe(0);
    // A tcp:// endpoint with --tls-* flags is TLS too.
    const tcp = await runCli(['call', demo.endpoint.replace('tls://', 'tcp://'), 'echo', '"x"', ...clientFiles()]);
    expect(tcp.stdout.trim()).toBe('"x"');
  }, 30_000);

  it('each TLS failure exits 3 with its own code', async () => {
    const demo = await serveDemo(scratch, ['tls://127.0.0.1:0', ...serverFiles(), '--tls-ca', certs.caFile]);
    const cases: Array<[string[], string]> = [
      [['call', demo.endpoint, 'echo', '1', '--tls-ca', certs.caFile], 'ERR_TLS_CLIENT_CERT_REQUIRED'],
      [['call', demo.endpoint, 'echo', '1'], 'ERR_TLS_CERT_UNTRUSTED'],
      [['call', demo.endpoint.replace('tls://', 'tcp://'), 'echo', '1'], 'ERR_TLS_REQUIRED'],
      [['call', demo.endpoint, 'echo', '1', '--tls-servername', 'elsewhere.example', ...clientFiles()], 'ERR_TLS_CERT_NAME_MISMATCH'],
      [['ping', demo.endpoint, '--count', '1', '--tls-ca', certs.caFile, '--tls-cert', certs.expired.certFile, '--tls-key', certs.expired.keyFile], 'ERR_TLS_CERT_EXPIRED'],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    results.forEach((r, i) => {
      expect(r.code, cases[i]![1]).toBe(3);
      expect(r.stderr).toMatch(new RegExp(`^error: ${cases[i]![1]}: `, 'm'));
    });
    const plain = await serveDemo(scratch, ['tcp://127.0.0.1:0']);
    const notOffered = await runCli(['call', plain.endpoint.replace('tcp://', 'tls://'), 'echo', '1', '--tls-ca', certs.caFile]);
    expect(notOffered.code).toBe(3);
    expect(notOffered.stderr).toMatch(/^error: ERR_TLS_NOT_OFFERED: /m);
  }, 30_000);

  it('a missing or unreadable file is a usage error (2); a TLS server without a certificate too', async () => {
    const missing = await runCli(['call', 'tls://127.0.0.1:1', 'echo', '--tls-ca', '/nonexistent/ca.pem']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--tls-ca \/nonexistent\/ca\.pem: cannot read it/);
    const half = await runCli(['call', 'tls://127.0.0.1:1', 'echo', '--tls-cert', certs.client.certFile]);
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/--tls-cert and --tls-key go together/);
    const bare = await runCli(['serve', 'tls://127.0.0.1:0']);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/needs tls.cert and tls.key/);
  }, 30_000);
});
