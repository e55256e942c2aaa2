/** launchGrpcPlugin ↔ serveGrpcPlugin with real processes (fixtures/greeter-plugin.mjs from dist/); no Go or Python needed. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginExited, PluginProtocolMismatch, PluginStartFailed, PluginVersionMismatch } from '../plugin/index.js';
import { buildIfStale } from '../test-util/build.js';
import { exited, processAlive, waitFor } from '../test-util/wait.js';
import { GrpcPluginUnhealthy, launchGrpcPlugin, type LaunchGrpcPluginOptions } from './index.js';
import { FIXTURE, Greeter, greet } from '../../test/go-plugin/peers.js';

const HOST = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/host.mjs');
const WIRECALL_PLUGIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '../plugin/fixtures/plugin.mjs');

function launch(env: NodeJS.ProcessEnv = {}, options: LaunchGrpcPluginOptions = {}) {
  return launchGrpcPlugin(process.execPath, [FIXTURE], { handshakeTimeout: 10_000, ...options, env: { ...process.env, ...env } });
}

beforeAll(buildIfStale, 120_000);

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'plugin-grpc-test-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('launchGrpcPlugin ↔ serveGrpcPlugin', () => {
  it('over a Unix socket: health SERVING, a call to the user service, kill through GRPCController/Shutdown', async () => {
    const lines: string[] = [];
    const plugin = await launch({}, { logger: (line, stream) => lines.push(`${stream}: ${line}`) });
    const dir = path.dirname(plugin.handshake.address);
    try {
      expect(plugin.handshake).toMatchObject({ coreVersion: 1, appVersion: 1, network: 'unix', protocol: 'grpc', serverCert: '', multiplex: false });
      expect(plugin.target).toBe(`unix://${plugin.handshake.address}`);
      expect(plugin.tls).toBe(false);
      expect(await plugin.health()).toBe('SERVING');
      expect(await plugin.health('')).toBe('SERVING');
      await expect(plugin.health('nope')).rejects.toMatchObject({ code: 5 }); // NOT_FOUND
      expect(await greet(plugin.client(Greeter), 'unix')).toBe('hello, unix, from wirecall');
    } finally {
      const killed = await plugin.kill();
      expect(killed).toEqual({ code: 0, signal: null, via: 'controller' });
    }
    expect(await plugin.kill()).toEqual({ code: 0, signal: null, via: 'controller' }); // idempotent
    expect(plugin.exitStatus).toEqual({ code: 0, signal: null });
    expect(existsSync(dir)).toBe(false);
    // Its stdout after the handshake line reached the logger.
    expect(lines).toContain('stdout: greeted unix');
  });

  it('over TCP in the port range, and with PROTOCOL versions negotiated', async () => {
    const plugin = await launch({ FIX_NETWORK: 'tcp', FIX_VERSIONS: '1,2' }, { minPort: 20_000, maxPort: 25_000, protocolVersions: [2, 3] });
    try {
      expect(plugin.handshake).toMatchObject({ network: 'tcp', appVersion: 2 });
      const port = Number(plugin.handshake.address.split(':')[1]);
      expect(port).toBeGreaterThanOrEqual(20_000);
      expect(port).toBeLessThanOrEqual(25_000);
      expect(plugin.target).toBe(`127.0.0.1:${port}`);
      expect(await greet(plugin.client(Greeter), 'tcp')).toBe('hello, tcp, from wirecall');
    } finally {
      expect((await plugin.kill()).via).toBe('controller');
    }
  });

  it('with AutoMTLS: the plugin answers with its certificate, the call runs over mutual TLS; its stdio stream reaches the logger', async () => {
    const lines: string[] = [];
    const plugin = await launch({ FIX_STDIO: 'stream' }, { autoMTLS: true, logger: (line, stream) => lines.push(`${stream}: ${line}`) });
    try {
      expect(plugin.tls).toBe(true);
      expect(plugin.handshake.serverCert).toMatch(/^[A-Za-z0-9+/]{100,}$/); // unpadded base64 DER
      expect(await greet(plugin.client(Greeter), 'tls')).toBe('hello, tls, from wirecall');
      const deadline = Date.now() + 5000;
      while (!lines.includes('stdout: greeted tls') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(lines).toContain('stdout: greeted tls');
    } finally {
      expect((await plugin.kill()).via).toBe('controller');
    }
  });

  it('TCP: a port taken in the range is skipped; with none free the plugin fails with AddressInUse and the host gets PluginExited', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const plugin = await launch({ FIX_NETWORK: 'tcp' }, { minPort: port, maxPort: port + 1 });
      expect(plugin.handshake.address).toBe(`127.0.0.1:${port + 1}`);
      expect((await plugin.kill()).via).toBe('controller');
      const err = await launch({ FIX_NETWORK: 'tcp' }, { minPort: port, maxPort: port }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PluginExited);
      expect((err as PluginExited).stderr.join('\n')).toContain(`no TCP port on 127.0.0.1 in ${port}–${port} could be bound`);
    } finally {
      taken.close();
    }
  });

  it('kill() escalates to SIGKILL when the plugin ignores the controller and SIGTERM', async () => {
    const plugin = await launch({ FIX_STUBBORN: '1' }, { killGracePeriod: 300 });
    const started = Date.now();
    expect(await plugin.kill()).toEqual({ code: null, signal: 'SIGKILL', via: 'SIGKILL' });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('a command that does not exist: PluginStartFailed, and its socket directory removed', async () => {
    const err = await launchGrpcPlugin('/nonexistent/wirecall-plugin', [], { unixSocketTempDir: scratch }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginStartFailed);
    expect(err).toMatchObject({ code: 'ERR_PLUGIN_START_FAILED' });
    expect(readdirSync(scratch)).toEqual([]);
  });

  it('no app protocol version in common: PluginVersionMismatch, the process stopped', async () => {
    const err = await launch({ FIX_VERSIONS: '1,2' }, { protocolVersions: [3] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginVersionMismatch);
    expect(err).toMatchObject({ code: 'ERR_PLUGIN_VERSION_MISMATCH', which: 'app', got: 2, supported: [3] });
  });

  it('a plugin run with another magic cookie prints go-plugin\'s message and exits 1: PluginExited', async () => {
    const err = await launch({}, { handshake: { magicCookieKey: 'OTHER_APP', magicCookieValue: 'x' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginExited);
    expect(err).toMatchObject({ code: 'ERR_PLUGIN_EXITED', exitCode: 1 });
    expect((err as PluginExited).stderr.join('\n')).toContain('This binary is a plugin');
  });

  it('refuses a wirecall-protocol plugin, and a grpc plugin that ignores AutoMTLS: PluginProtocolMismatch', async () => {
    const wirecall = await launchGrpcPlugin(process.execPath, [WIRECALL_PLUGIN], { handshakeTimeout: 10_000 }).catch((e: unknown) => e);
    expect(wirecall).toBeInstanceOf(PluginProtocolMismatch);
    expect((wirecall as Error).message).toContain('"wirecall"');
    const noCert = await launchGrpcPlugin(process.execPath, [WIRECALL_PLUGIN, 'grpc'], { handshakeTimeout: 10_000, autoMTLS: true }).catch((e: unknown) => e);
    expect(noCert).toBeInstanceOf(PluginProtocolMismatch);
    expect((noCert as Error).message).toContain('announced no certificate');
  });

  it('a line announcing a socket nobody serves: GrpcPluginUnhealthy within healthTimeout, the process stopped', async () => {
    const started = Date.now();
    const err = await launchGrpcPlugin(process.execPath, [WIRECALL_PLUGIN, 'grpc'], { handshakeTimeout: 10_000, healthTimeout: 500, killGracePeriod: 200 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GrpcPluginUnhealthy);
    expect(err).toMatchObject({ code: 'ERR_PLUGIN_GRPC_UNHEALTHY', status: undefined });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  for (const [how, env] of [['stdin EOF', {}], ['the parent pid check alone (as under a go-plugin host)', { FIX_NO_STDIN: '1' }]] as const) {
    it(`a host killed outright leaves no plugin behind: ${how}`, async () => {
      const host = spawn(process.execPath, [HOST], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        const pid = Number(await new Promise<string>((resolve) => host.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))));
        expect(processAlive(pid)).toBe(true);
        host.kill('SIGKILL');
        await exited(host, 5000);
        await waitFor('the orphaned plugin to exit', () => !processAlive(pid), 5000);
      } finally {
        host.kill('SIGKILL');
      }
    });
  }
});
