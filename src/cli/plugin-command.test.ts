/** `wirecall plugin run -- <command…>` with real processes: the compiled CLI and src/plugin/fixtures/plugin.mjs. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
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

  it('`wirecall serve --plugin`: the demo as a plugin, reached by `wirecall call` through `plugin run` ($WIRECALL_TOKEN on both sides)', async () => {
    const env = { ...process.env, WIRECALL_TOKEN: 'plugin-s3cret' };
    const cli = spawn(process.execPath, [CLI, 'plugin', 'run', '-q', '--', process.execPath, CLI, 'serve', '--plugin'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const endpoint = /^listening on (unix:\/\S+)$/.exec(await firstLine(cli, 10_000))?.[1];
      expect(endpoint).toBeDefined();
      expect(await runCli(['call', endpoint!, 'add', '{"a":1,"b":2}'], { WIRECALL_TOKEN: 'plugin-s3cret' })).toMatchObject({ code: 0, stdout: '3\n' });
      expect((await runCli(['call', endpoint!, 'add', '{"a":1,"b":2}'])).stderr).toMatch(/UNAUTHENTICATED|token/i);
      cli.kill('SIGTERM');
      expect(await exited(cli, 5000)).toEqual({ code: 0, signal: null });
    } finally {
      cli.kill('SIGKILL');
    }
  });

  it.skipIf(process.platform !== 'linux')('--auto-mtls with `serve --plugin tcp`: tls:// and the flags on the second line reach it; SIGKILL of the host leaves no plugin', async () => {
    const cli = spawn(process.execPath, [CLI, 'plugin', 'run', '-q', '--auto-mtls', '--', process.execPath, CLI, 'serve', '--plugin', 'tcp'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const lines = await stdoutLines(cli, 2, 10_000);
      const endpoint = /^listening on (tls:\/\/127\.0\.0\.1:\d+)$/.exec(lines[0]!)?.[1];
      expect(endpoint, lines[0]).toBeDefined();
      const flags = /^tls (.+)$/.exec(lines[1]!)?.[1]?.split(' ') ?? [];
      expect(flags).toEqual(['--tls-ca', expect.stringMatching(/plugin\.pem$/), '--tls-cert', expect.stringMatching(/host\.pem$/), '--tls-key', expect.stringMatching(/host-key\.pem$/), '--tls-servername', 'localhost']);
      const dir = path.dirname(flags[1]!);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(await runCli(['call', endpoint!, 'add', '{"a":1,"b":2}', ...flags])).toMatchObject({ code: 0, stdout: '3\n' });
      // Without our client certificate the plugin refuses.
      const anonymous = await runCli(['call', endpoint!, 'add', '{"a":1,"b":2}', ...flags.slice(0, 2), ...flags.slice(6)]);
      expect(anonymous.code).toBe(3);
      expect(anonymous.stderr).toMatch(/ERR_TLS_CLIENT_CERT_REQUIRED/);
      const pid = childPids(cli.pid!)[0]!;
      expect(processAlive(pid)).toBe(true);
      cli.kill('SIGKILL');
      await exited(cli, 5000);
      await waitFor(`plugin ${pid} to exit after its host`, () => !processAlive(pid), 5000);
      // Killed outright, the command could not remove its directory.
      rmSync(dir, { recursive: true, force: true });
    } finally {
      cli.kill('SIGKILL');
    }
  });

  it('--auto-mtls with a plugin on a Unix socket: the flags on the second line reach it (TLS over the socket), a plain call is refused; SIGINT removes the certificate directory', async () => {
    const cli = spawn(process.execPath, [CLI, 'plugin', 'run', '--auto-mtls', '--', process.execPath, CLI, 'serve', '--plugin'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const lines = await stdoutLines(cli, 2, 10_000);
      const endpoint = /^listening on (unix:\/\S+)$/.exec(lines[0]!)?.[1];
      expect(endpoint, lines[0]).toBeDefined();
      const flags = /^tls (.+)$/.exec(lines[1]!)![1]!.split(' ');
      const dir = path.dirname(flags[1]!);
      expect(existsSync(dir)).toBe(true);
      expect(await runCli(['call', endpoint!, 'add', '{"a":1,"b":2}', ...flags])).toMatchObject({ code: 0, stdout: '3\n' });
      // Plain, it is refused: the plugin's socket speaks TLS only.
      expect((await runCli(['call', endpoint!, 'add', '{"a":1,"b":2}'])).code).toBe(3);
      cli.kill('SIGINT');
      expect(await exited(cli, 5000)).toEqual({ code: 0, signal: null });
      expect(existsSync(dir)).toBe(false);
    } finally {
      cli.kill('SIGKILL');
    }
  });

  it('`serve --plugin` run by hand: go-plugin\'s message, exit 1; with an endpoint or --register: usage error', async () => {
    const env = { WIRECALL_PLUGIN: '' };
    const byHand = await runCli(['serve', '--plugin'], env);
    expect(byHand.code).toBe(1);
    expect(byHand.stderr).toMatch(/^This binary is a plugin/);
    expect(await runCli(['serve', '--plugin', '--register', 'maya'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--register') });
    expect(await runCli(['serve', '--plugin', 'tcp', 'tcp://127.0.0.1:0'])).toMatchObject({ code: 2, stderr: expect.stringContaining('give no endpoint') });
    expect(await runCli(['serve', '--plugin', 'udp'])).toMatchObject({ code: 2 });
  });

  it('usage errors: no command, a bad --protocol-versions', async () => {
    expect(await runCli(['plugin', 'run'])).toMatchObject({ code: 2, stderr: expect.stringContaining('ERR_MISSING_ARGUMENT') });
    expect(await runCli(['plugin', 'run', '--protocol-versions', 'x', '--', 'true'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('ERR_INVALID_OPTION_VALUE'),
    });
  });
});

/** The first `n` stdout lines of a child, within `ms`. */
function stdoutLines(child: ChildProcess, n: number, ms: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`fewer than ${n} stdout lines within ${ms} ms: ${JSON.stringify(text)}`)), ms);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      text += d;
      const lines = text.split('\n');
      if (lines.length > n) {
        clearTimeout(timer);
        resolve(lines.slice(0, n));
      }
    });
  });
}

/** Linux: the pids of a process's children (/proc/<pid>/task/<tid>/children). */
function childPids(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
    readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
      .split(' ')
      .filter((x) => x !== '')
      .map(Number),
  );
}
