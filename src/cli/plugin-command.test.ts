/** `wirecall plugin run -- <command…>` with real processes: the compiled CLI and src/plugin/fixtures/plugin.mjs. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, buildIfStale } from '../test-util/build.js';
import { runCli } from '../test-util/cli-child.js';
import { firstLine } from '../test-util/node-child.js';
import { exited, processAlive, waitFor } from '../test-util/wait.js';

const FIXTURE = path.join(ROOT, 'src/plugin/fixtures/plugin.mjs');


beforeAll(buildIfStale, 120_000);

describe('wirecall plugin run', () => {
  it('prints "listening on <endpoint>" first, `wirecall call` reaches the plugin, SIGINT stops both (exit 0)', async () => {
    const cli = spawn(process.execPath, [CLI, 'plugin', 'run', '--kill-grace', '1000', '--', process.execPath, FIXTURE], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    cli.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    try {
      const line = await firstLine(cli, 10_000);
      const endpoint = /^listening on (unix:\/\S+)$/.exec(line)?.[1];
      expect(endpoint, line).toBeDefined();
      const call = await runCli(['call', endpoint!, 'echo', '{"hi":1}']);
      expect(call).toMatchObject({ code: 0, stdout: '{"hi":1}\n' });
      const pid = Number((await runCli(['call', endpoint!, 'pid'])).stdout.trim());
      expect(processAlive(pid)).toBe(true);
      await waitFor('the plugin stderr line', () => stderr.includes(`plugin: serving on ${endpoint}`), 5000);
      cli.kill('SIGINT');
      expect(await exited(cli, 5000)).toEqual({ code: 0, signal: null });
      expect(processAlive(pid)).toBe(false);
    } finally {
      cli.kill('SIGKILL');
    }
  });

  it('a plugin that exits before its handshake: the error and its stderr on one line, exit code 3', async () => {
    const r = await runCli(['plugin', 'run', '--', process.execPath, FIXTURE, 'exit']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('plugin: fatal: config file missing\n');
    expect(r.stderr).toMatch(/^error: ERR_PLUGIN_EXITED: plugin exited \(code 3\) before its handshake line; last stderr lines:\\nloading config\\nfatal: config file missing$/m);
  });

  it('usage errors: no command, a bad --protocol-versions', async () => {
    expect(await runCli(['plugin', 'run'])).toMatchObject({ code: 2, stderr: expect.stringContaining('ERR_MISSING_ARGUMENT') });
    expect(await runCli(['plugin', 'run', '--protocol-versions', 'x', '--', 'true'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('ERR_INVALID_OPTION_VALUE'),
    });
  });
});
