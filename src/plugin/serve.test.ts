/** servePlugin seen from outside: run by hand, and no orphan when the host dies (real processes). */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildIfStale } from '../test-util/build.js';
import { firstLine } from '../test-util/node-child.js';
import { exited, processAlive, waitFor } from '../test-util/wait.js';
import { NOT_A_COMMAND_MESSAGE } from './handshake.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');


beforeAll(buildIfStale, 120_000);

describe('servePlugin', () => {
  it("run by hand (no magic cookie): go-plugin's message on stderr, nothing on stdout, exit code 1", async () => {
    const env = { ...process.env };
    delete env['WIRECALL_PLUGIN'];
    const child = spawn(process.execPath, [path.join(FIXTURES, 'plugin.mjs')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    expect(await exited(child, 10_000)).toEqual({ code: 1, signal: null });
    expect(out).toBe('');
    expect(err).toBe(NOT_A_COMMAND_MESSAGE);
  });

  it.each([
    ['stdin EOF alone', { FIX_NO_POLL: '1' }],
    ['parent pid polling alone', { FIX_NO_STDIN: '1' }],
    ['AutoMTLS, both watchers', { FIX_AUTO_MTLS: '1' }],
  ])('exits when its host is SIGKILLed (%s): no orphan', async (_how, extra) => {
    if (process.platform === 'win32') return;
    const host = spawn(process.execPath, [path.join(FIXTURES, 'host.mjs')], { env: { ...process.env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
    const pid = Number(await firstLine(host, 10_000));
    expect(Number.isInteger(pid) && pid > 0).toBe(true);
    expect(processAlive(pid)).toBe(true);
    host.kill('SIGKILL');
    await exited(host, 5000);
    const started = Date.now();
    await waitFor(`plugin ${pid} to exit`, () => !processAlive(pid), 5000, 20);
    // Polling every 100 ms plus a graceful close: well under a second in practice.
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('a host that exits by itself SIGTERMs its plugin on the way out, even one that watches nothing', async () => {
    if (process.platform === 'win32') return;
    const host = spawn(process.execPath, [path.join(FIXTURES, 'host.mjs'), 'exit'], {
      env: { ...process.env, FIX_NO_STDIN: '1', FIX_NO_POLL: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const pid = Number(await firstLine(host, 10_000));
    expect(await exited(host, 5000)).toEqual({ code: 0, signal: null });
    await waitFor(`plugin ${pid} to exit`, () => !processAlive(pid), 3000, 20);
  });
});
