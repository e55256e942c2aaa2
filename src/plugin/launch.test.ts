/** launchPlugin ↔ servePlugin with real processes: the fixture in fixtures/plugin.mjs, run from dist/. */
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConnectionFailed } from '../errors.js';
import { buildIfStale } from '../test-util/build.js';
import { waitFor } from '../test-util/wait.js';
import {
  PluginExited,
  PluginHandshakeInvalid,
  PluginHandshakeTimeout,
  PluginProtocolMismatch,
  PluginStartFailed,
  PluginVersionMismatch,
  launchPlugin,
  type LaunchOptions,
} from './index.js';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'plugin.mjs');

type Fixture = { echo(p: unknown): unknown; pid(): number; log(p: string): boolean; chatter(n: number): number };

function launch(mode = 'serve', options: LaunchOptions = {}, env: NodeJS.ProcessEnv = {}) {
  return launchPlugin<Fixture>(process.execPath, [FIXTURE, mode], { handshakeTimeout: 10_000, ...options, env: { ...process.env, ...env } });
}

beforeAll(buildIfStale, 120_000);

describe('launchPlugin ↔ servePlugin', () => {
  it('over a Unix socket in PLUGIN_UNIX_SOCKET_DIR: connects, calls, negotiates the highest common version, kills gracefully', async () => {
    const plugin = await launch('serve', { protocolVersions: [1, 2, 3] });
    try {
      expect(plugin.handshake).toMatchObject({ coreVersion: 1, appVersion: 2, network: 'unix', protocol: 'wirecall' });
      expect(plugin.endpoint).toMatch(/^unix:\/.*plugin-dir[^/]+\/plugin[0-9a-f]+$/);
      expect(await plugin.connection.call('echo', { a: [1, 'x'] })).toEqual({ a: [1, 'x'] });
      expect(await plugin.connection.call('pid')).toBe(plugin.pid);
      expect(plugin.exitStatus).toBeUndefined();
    } finally {
      const socketPath = plugin.endpoint.slice('unix:'.length);
      const status = await plugin.kill();
      // SIGTERM is handled by servePlugin: the server closes and the process exits 0.
      expect(status).toEqual({ code: 0, signal: null });
      expect(existsSync(path.dirname(socketPath))).toBe(false);
    }
  });

  it('handshakeTimeout: Infinity waits without a limit (no timer firing at once)', async () => {
    const plugin = await launch('serve', { handshakeTimeout: Infinity });
    try {
      expect(await plugin.connection.call('echo', 'ok')).toBe('ok');
    } finally {
      await plugin.kill();
    }
  });

  it('over TCP on 127.0.0.1 inside PLUGIN_MIN_PORT–PLUGIN_MAX_PORT', async () => {
    const plugin = await launch('serve', { minPort: 20_000, maxPort: 29_999 }, { FIX_NETWORK: 'tcp' });
    try {
      expect(plugin.handshake.network).toBe('tcp');
      const port = Number(plugin.handshake.address.split(':').pop());
      expect(plugin.handshake.address.startsWith('127.0.0.1:')).toBe(true);
      expect(port).toBeGreaterThanOrEqual(20_000);
      expect(port).toBeLessThanOrEqual(29_999);
      expect(await plugin.connection.call('echo', 'tcp')).toBe('tcp');
    } finally {
      await plugin.kill();
    }
  });

  it('forwards stderr and post-handshake stdout to the logger line by line, and keeps a stderr tail', async () => {
    const lines: string[] = [];
    const plugin = await launch('serve', { logger: (line, stream) => lines.push(`${stream}: ${line}`) });
    try {
      await plugin.connection.call('log', 'one');
      await plugin.connection.call('log', 'two');
      await waitFor('four log lines', () => lines.filter((l) => /: (out|err): /.test(l)).length === 4, 5000);
      expect(lines).toContain('stdout: out: one');
      expect(lines).toContain('stderr: err: two');
      expect(lines.some((l) => l.startsWith('stdout: 1|'))).toBe(false);
      expect(plugin.stderrTail()).toContain('err: one');
    } finally {
      await plugin.kill();
    }
  });

  it('reads a chatty plugin\'s output as it comes (no blocking on a full pipe), without a logger too', async () => {
    const plugin = await launch('serve');
    try {
      expect(await plugin.connection.call('chatter', 500, { timeout: 10_000 })).toBe(500);
      await waitFor('the last stderr line', () => plugin.stderrTail().at(-1)?.startsWith('499 '), 5000);
      expect(plugin.stderrTail()).toHaveLength(20);
    } finally {
      await plugin.kill();
    }
  });

  it('kill() escalates to SIGKILL after the grace period when the plugin ignores SIGTERM', async () => {
    const plugin = await launch('stubborn', { killGracePeriod: 300 });
    expect(await plugin.connection.call('echo', 1)).toBe(1);
    const started = Date.now();
    const status = await plugin.kill();
    const took = Date.now() - started;
    expect(status).toEqual({ code: null, signal: 'SIGKILL' });
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(3000);
    expect(await plugin.exited).toEqual(status);
    expect(await plugin.kill()).toEqual(status);
  });
});

describe('launchPlugin failures (the process is gone afterwards)', () => {
  it('no handshake line within the timeout: PluginHandshakeTimeout with the stderr so far', async () => {
    const started = Date.now();
    // Long enough for a loaded machine to start node and load the fixture's imports before it writes to stderr.
    const err = await launch('silent', { handshakeTimeout: 1500, killGracePeriod: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginHandshakeTimeout);
    expect(err).toMatchObject({ code: 'ERR_PLUGIN_HANDSHAKE_TIMEOUT', timeout: 1500, stderr: ['starting slowly'] });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a line that is not a handshake line: PluginHandshakeInvalid', async () => {
    const err = await launch('garbage', { killGracePeriod: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginHandshakeInvalid);
    expect(err).toMatchObject({ code: 'ERR_PLUGIN_HANDSHAKE_INVALID', line: 'hello from a plugin that forgot the handshake' });
  });

  it('an app version the host did not offer: PluginVersionMismatch', async () => {
    const err = await launch('version', { protocolVersions: [1, 2], killGracePeriod: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginVersionMismatch);
    expect(err).toMatchObject({ code: 'ERR_PLUGIN_VERSION_MISMATCH', which: 'app', got: 7, supported: [1, 2] });
  });

  it('a plugin with no version in common announces its own and is refused', async () => {
    const err = await launch('serve', { protocolVersions: [5] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_PLUGIN_VERSION_MISMATCH', got: 2, supported: [5] });
  });

  it('another protocol (grpc): PluginProtocolMismatch', async () => {
    const err = await launch('grpc', { killGracePeriod: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginProtocolMismatch);
    expect((err as Error).message).toContain('"grpc"');
  });

  it('exits before its line: PluginExited with the exit code and the last stderr lines', async () => {
    const err = await launch('exit').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginExited);
    expect(err).toMatchObject({ code: 'ERR_PLUGIN_EXITED', exitCode: 3, signal: null, stderr: ['loading config', 'fatal: config file missing'] });
    expect((err as Error).message).toContain('fatal: config file missing');
  });

  it('a wrong magic cookie: the plugin prints go-plugin\'s message and exits 1, seen as PluginExited', async () => {
    const err = await launch('serve', { handshake: { magicCookieKey: 'WIRECALL_PLUGIN', magicCookieValue: 'wrong' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginExited);
    expect(err).toMatchObject({ exitCode: 1 });
    expect((err as PluginExited).stderr[0]).toBe('This binary is a plugin. These are not meant to be executed directly.');
  });

  it('TCP with every port of the range taken: the plugin fails and exits, seen as PluginExited', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const err = await launch('serve', { minPort: port, maxPort: port }, { FIX_NETWORK: 'tcp' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PluginExited);
      expect((err as PluginExited).stderr.join('\n')).toContain('ERR_ADDRESS_IN_USE');
    } finally {
      blocker.close();
    }
  });

  it('a command that does not exist: PluginStartFailed', async () => {
    const err = await launchPlugin('/nonexistent/wirecall-plugin', [], { handshakeTimeout: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginStartFailed);
    expect(err).toMatchObject({ code: 'ERR_PLUGIN_START_FAILED' });
  });

  it('an address nobody listens on: ConnectionFailed, and the plugin is stopped', async () => {
    // version mode announces <dir>/nothing; offering 7 makes the line acceptable.
    const err = await launch('version', { protocolVersions: [7], killGracePeriod: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionFailed);
  });

  it('invalid options are refused before anything starts', async () => {
    await expect(launch('serve', { protocolVersions: [] })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    await expect(launch('serve', { minPort: 5, maxPort: 4 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    await expect(launch('serve', { handshake: { magicCookieKey: 'A=B', magicCookieValue: 'x' } })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    await expect(launch('serve', { handshakeTimeout: 2 ** 31 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    await expect(launch('serve', { killGracePeriod: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    await expect(launch('serve', { unixSocketTempDir: '/nonexistent/dir' })).rejects.toMatchObject({ code: 'ERR_PLUGIN_START_FAILED' });
  });
});
