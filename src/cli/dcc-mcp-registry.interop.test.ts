/**
 * One services.json for wirecall and dcc-mcp-core 0.13.6 (the envelope generation), end to
 * end: a DCC registered by 0.13.6's TransportManager is listed by `wirecall services` and
 * called by `wirecall call --dialect dcc-mcp maya …`; a `wirecall serve --register`
 * server is found by 0.13.6's TransportManager and called by its connect_ipc client.
 *
 * 0.13.6 is not on PyPI: its venv exists only where scripts/setup-interop.sh built it from
 * a source checkout (DCC_MCP_CORE_0136_SRC); elsewhere, CI included, this file is skipped
 * with one line. The same registry against the latest release (0.20.x) runs in CI:
 * src/manager/registry/*.interop.test.ts.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildIfStale } from '../test-util/build.js';
import { PYTHON_0136 } from '../test-util/interop.js';
import { runCli, serveChild } from '../test-util/cli-child.js';
import { Scratch } from '../test-util/scratch.js';

const PEER_0136 = fileURLToPath(new URL('../wire/fixtures/dcc_mcp_0136.py', import.meta.url));
const has0136 = existsSync(PYTHON_0136);
if (!has0136) process.stderr.write('dcc-mcp-core 0.13.6 registry interop: skipped (opt-in: DCC_MCP_CORE_0136_SRC=<v0.13.6 checkout> npm run setup:interop)\n');

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

/** Runs the 0.13.6 fixture; resolves with its first "@@" result line matching `ready` (the package logs to stdout too). */
function fixture(args: string[], ready: (line: string) => boolean): Promise<{ child: ChildProcessWithoutNullStreams; line: string }> {
  const child = scratch.child(spawn(PYTHON_0136, [PEER_0136, ...args])) as ChildProcessWithoutNullStreams;
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const line = stdout
        .split('\n')
        .filter((l) => l.startsWith('@@'))
        .map((l) => l.slice(2))
        .find(ready);
      if (line !== undefined) resolve({ child, line });
    });
    child.once('exit', (code) => reject(new Error(`python exited ${code}: ${stderr.slice(-2000)}`)));
  });
}

describe.skipIf(!has0136)('services.json shared with dcc-mcp-core 0.13.6', () => {
  beforeAll(() => buildIfStale(), 120_000);

  it('a DCC registered by its TransportManager is listed by `wirecall services` and called by `wirecall call --dialect dcc-mcp maya`', async () => {
    const dir = scratch.dir();
    const { line } = await fixture(['register', dir], (l) => l.startsWith('REGISTERED '));
    const [, id, port] = line.split(' ');
    const listed = await runCli(['services', '--registry-dir', dir]);
    expect(listed.code).toBe(0);
    const row = listed.stdout.split('\n').find((l) => l.startsWith('maya'));
    expect(row).toContain(id);
    expect(row).toContain(`tcp://127.0.0.1:${port}`);
    expect(row).toContain('shot010.ma');
    const called = await runCli(['call', '--dialect', 'dcc-mcp', '--registry-dir', dir, 'maya', 'echo', '{"from":"wirecall"}']);
    expect(called.stderr).toBe('');
    expect(called.stdout).toBe('{"from":"wirecall"}\n');
  }, 30_000);

  it('a `wirecall serve --register` server is found by its TransportManager and called by its connect_ipc client', async () => {
    const dir = scratch.dir();
    const served = await serveChild(scratch, dir, 'houdini', 'tcp://127.0.0.1:0');
    const { line } = await fixture(['list', dir, 'houdini'], (l) => l.startsWith('['));
    const rows = JSON.parse(line) as Array<Record<string, string>>;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ dcc_type: 'houdini', instance_id: served.instanceId, host: '127.0.0.1', port: new URL(served.endpoint).port, status: 'AVAILABLE' });
    const call = await fixture(['call-registered', dir, 'houdini'], (l) => l.startsWith('{'));
    // The demo's add, reached in the envelope on the port the native clients use.
    expect(JSON.parse(call.line)).toEqual({ instance_id: served.instanceId, port: Number(new URL(served.endpoint).port), payload: '5' });
  }, 30_000);
});
