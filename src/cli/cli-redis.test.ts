/**
 * The CLI over a Redis registry ($WIRECALL_REGISTRY=redis://…): `serve --register`
 * writes there, `services` lists it with the same table as the file registry, and a
 * DCC type as the target of `call` and `ping` resolves through it. A row registered
 * with a tls:// endpoint says so, and `call <dccType>` connects with TLS without being
 * told (the --tls-* flags only give the CA and client certificate), on both backends.
 * Real child processes and a real redis-server this file starts.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildIfStale, CLI, ROOT } from '../test-util/build.js';
import { runCli } from '../test-util/cli-child.js';
import { redisPeer, startRedis, type RedisServer } from '../test-util/redis.js';
import { readServicesJson } from '../test-util/registry-files.js';
import { Scratch } from '../test-util/scratch.js';
import { makeTestCerts, type TestCerts } from '../test-util/tls-certs.js';
import { exited } from '../test-util/wait.js';

const peer = redisPeer('CLI over the Redis registry');
const scratch = new Scratch();
let redis: RedisServer | undefined;
let certs: TestCerts;

beforeAll(async () => {
  certs = makeTestCerts();
  await buildIfStale();
  if (peer.installed) redis = await startRedis();
}, 120_000);
afterAll(async () => {
  certs.cleanup();
  await redis?.stop();
});
afterEach(() => scratch.cleanup());

const serverTls = (): string[] => ['--tls-cert', certs.server.certFile, '--tls-key', certs.server.keyFile, '--tls-ca', certs.caFile];
const clientTls = (): string[] => ['--tls-ca', certs.caFile, '--tls-cert', certs.client.certFile, '--tls-key', certs.client.keyFile];

/** `wirecall serve <endpoint> --register <dccType> …` with `env`; resolves once registered. */
async function serveWith(env: NodeJS.ProcessEnv, endpoint: string, dccType: string, extra: string[] = []) {
  const child = scratch.child(
    spawn(process.execPath, [CLI, 'serve', endpoint, '--register', dccType, ...extra], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WIRECALL_REGISTRY: '', WIRECALL_REGISTRY_DIR: '', ...env },
    }),
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve printed ${lines.length} lines in 10 s; stderr: ${stderr}`)), 10_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (lines.push(line) === 2) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}); stderr: ${stderr}`));
    });
  });
  return { child, endpoint: lines[0]!.replace(/^listening on /, ''), instanceId: lines[1]!.split(' ')[2]!, stderr: () => stderr };
}

describe.runIf(peer.run)('CLI over the Redis registry ($WIRECALL_REGISTRY)', () => {
  it('serve --register writes to Redis; services lists it like the file registry; call and ping resolve a DCC type there', async () => {
    peer.requireInstalled();
    const env = { WIRECALL_REGISTRY: `${redis!.url}/3`, WIRECALL_REGISTRY_DIR: scratch.dir() };
    const s = await serveWith(env, 'tcp://127.0.0.1:0', 'maya', ['--scene', 'shot010.mb']);

    const json = await runCli(['services', '--json'], env);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(json.stdout)).toEqual([
      expect.objectContaining({ dccType: 'maya', instanceId: s.instanceId, endpoint: s.endpoint, tls: false, status: 'available', liveness: 'live', scene: 'shot010.mb', pid: s.child.pid }),
    ]);
    // Nothing was written to the directory: the variable chose Redis.
    expect(existsSync(path.join(env.WIRECALL_REGISTRY_DIR, 'services.json'))).toBe(false);

    const table = await runCli(['services'], env);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^DCC TYPE +INSTANCE +ENDPOINT +STATUS +VERSION +SCENE +PID +HEARTBEAT$/);
    expect(lines[1]).toMatch(new RegExp(`^maya +${s.instanceId}  ${s.endpoint.replace(/[.]/g, '\\.')} +available +\\S+ +shot010\\.mb +${s.child.pid} +\\d+s ago$`));
    expect(lines).toHaveLength(2);

    expect(await runCli(['call', 'maya', 'add', '{"a":2,"b":3}'], env)).toMatchObject({ code: 0, stdout: '5\n', stderr: '' });
    expect(await runCli(['call', 'maya', 'echo', '1', '--instance', s.instanceId.slice(0, 8)], env)).toMatchObject({ code: 0, stdout: '1\n' });
    expect((await runCli(['ping', 'maya'], env)).stdout).toMatch(new RegExp(`^pong from ${s.endpoint}: time=`));
    // Another database of the same server is another registry.
    const other = { ...env, WIRECALL_REGISTRY: `${redis!.url}/4` };
    expect(await runCli(['services'], other)).toMatchObject({ code: 0, stdout: `no live services (registry ${redis!.url}/4)\n` });
    expect(await runCli(['call', 'maya', 'echo'], other)).toMatchObject({
      code: 2,
      stderr: `error: ERR_SERVICE_NOT_FOUND: no live instance of maya is registered (registry ${redis!.url}/4)\n`,
    });
    // --registry-dir wins over the variable.
    expect(JSON.parse((await runCli(['services', '--json', '--registry-dir', env.WIRECALL_REGISTRY_DIR], env)).stdout)).toEqual([]);

    s.child.kill('SIGTERM');
    expect(await exited(s.child, 10_000)).toEqual({ code: 0, signal: null });
    expect(JSON.parse((await runCli(['services', '--json', '--all'], env)).stdout)).toEqual([]);
  }, 60_000);

  it('a row registered with tls:// says so, and call <dccType> connects with TLS without being told', async () => {
    peer.requireInstalled();
    const env = { WIRECALL_REGISTRY: `${redis!.url}/5` };
    const secure = await serveWith(env, 'tls://127.0.0.1:0', 'houdini', serverTls());
    const plain = await serveWith(env, 'tcp://127.0.0.1:0', 'nuke');
    expect(secure.endpoint).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
    const rows = JSON.parse((await runCli(['services', '--json'], env)).stdout) as Array<Record<string, unknown>>;
    expect(rows.map((r) => [r['dccType'], r['endpoint'], r['tls']])).toEqual([
      ['houdini', secure.endpoint, true],
      ['nuke', plain.endpoint, false],
    ]);
    expect((await runCli(['services'], env)).stdout).toMatch(new RegExp(`^houdini +${secure.instanceId}  ${secure.endpoint.replace(/[.]/g, '\\.')} +available `, 'm'));
    // The flags give only the CA and our certificate; the row turns TLS on.
    expect(await runCli(['call', 'houdini', 'echo', '"s"', ...clientTls()], env)).toMatchObject({ code: 0, stdout: '"s"\n', stderr: '' });
    // The same flags on a plain row: it is dialled plain.
    expect(await runCli(['call', 'nuke', 'echo', '"p"', ...clientTls()], env)).toMatchObject({ code: 0, stdout: '"p"\n', stderr: '' });
    // Without our certificate the mutual-TLS server refuses, typed: TLS was used.
    const refused = await runCli(['call', 'houdini', 'echo', '1', '--tls-ca', certs.caFile], env);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/^error: ERR_TLS_CLIENT_CERT_REQUIRED: /);
  }, 60_000);

  it('an unreachable Redis exits 3 (ERR_CONNECTION_FAILED); a $WIRECALL_REGISTRY that is not redis:// exits 2', async () => {
    peer.requireInstalled();
    const gone = await runCli(['services'], { WIRECALL_REGISTRY: 'redis://127.0.0.1:1/0' });
    expect(gone.code).toBe(3);
    expect(gone.stderr).toMatch(/^error: ERR_CONNECTION_FAILED: cannot connect to the Redis registry at redis:\/\/127\.0\.0\.1:1\/0: /);
    const call = await runCli(['call', 'maya', 'echo'], { WIRECALL_REGISTRY: 'redis://user:secret@127.0.0.1:1/0' });
    expect(call.code).toBe(3);
    expect(call.stderr).not.toContain('secret');
    const bad = await runCli(['services'], { WIRECALL_REGISTRY: 'http://example.com' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('error: ERR_INVALID_OPTION: $WIRECALL_REGISTRY must be a redis:// or rediss:// URL, got "http://example.com"\n');
  }, 30_000);
});

describe('the file registry advertises tls too', () => {
  it('services.json says extras.wirecall.tls for a tls:// server; call <dccType> connects with TLS from it', async () => {
    const dir = scratch.dir();
    const env = { WIRECALL_REGISTRY_DIR: dir };
    const s = await serveWith(env, 'tls://127.0.0.1:0', 'maya', serverTls());
    const [row] = await readServicesJson(dir);
    // In extras (dcc-mcp-core's field for any JSON, which its rewrites keep), under our own key.
    expect(row).toMatchObject({ dcc_type: 'maya', instance_id: s.instanceId, extras: { wirecall: { tls: true } }, transport_address: { type: 'tcp', host: '127.0.0.1' } });
    expect(row).not.toHaveProperty('tls');
    const listed = JSON.parse((await runCli(['services', '--json'], env)).stdout) as Array<Record<string, unknown>>;
    expect(listed).toEqual([expect.objectContaining({ endpoint: s.endpoint, tls: true })]);
    expect(await runCli(['call', 'maya', 'add', '{"a":1,"b":1}', ...clientTls()], env)).toMatchObject({ code: 0, stdout: '2\n', stderr: '' });
  }, 30_000);
});
