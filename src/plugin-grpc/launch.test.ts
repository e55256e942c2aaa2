/** launchGrpcPlugin ↔ serveGrpcPlugin with real processes (fixtures/greeter-plugin.mjs from dist/); no Go or Python needed. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOption } from '../errors.js';
import { PluginExited, PluginProtocolMismatch, PluginStartFailed, PluginVersionMismatch } from '../plugin/index.js';
import { buildIfStale } from '../test-util/build.js';
import { exited, processAlive, waitFor } from '../test-util/wait.js';
import { GrpcPluginUnhealthy, HealthService, launchGrpcPlugin, type LaunchGrpcPluginOptions } from './index.js';
import { servingStatusName } from './pb.js';
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

  it('a PLUGIN_CLIENT_CERT inherited from our own host never reaches the plugin without AutoMTLS', async () => {
    const plugin = await launch({ PLUGIN_CLIENT_CERT: 'inherited from our own host' });
    try {
      expect(plugin.tls).toBe(false);
      expect(plugin.handshake.serverCert).toBe('');
      expect(await greet(plugin.client(Greeter), 'inherited')).toBe('hello, inherited, from wirecall');
    } finally {
      await plugin.kill();
    }
  });

  it('grpc.health.v1.Health/Watch: the status at once (SERVICE_UNKNOWN for another name), NOT_SERVING at shutdown, then the end', async () => {
    const plugin = await launch();
    const client = new grpc.Client(plugin.target, plugin.credentials, { channelOverride: plugin.channel });
    const watch = (service: string) => {
      const def = HealthService.watch;
      const call = client.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, { service }, new grpc.Metadata(), {});
      const seen: string[] = [];
      call.on('data', (m: { status: number }) => seen.push(servingStatusName(m.status)));
      call.on('error', () => {});
      return { seen, ended: new Promise<grpc.status>((r) => call.on('status', (s: grpc.StatusObject) => r(s.code))) };
    };
    try {
      const [own, other] = [watch('plugin'), watch('nope')];
      await waitFor('the first statuses', () => own.seen.length > 0 && other.seen.length > 0, 5000);
      expect(own.seen).toEqual(['SERVING']);
      expect(other.seen).toEqual(['SERVICE_UNKNOWN']);
      expect((await plugin.kill()).via).toBe('controller');
      expect(await own.ended).toBe(grpc.status.OK);
      expect(await other.ended).toBe(grpc.status.OK);
      expect(own.seen).toEqual(['SERVING', 'NOT_SERVING']);
      expect(other.seen).toEqual(['SERVICE_UNKNOWN']);
    } finally {
      await plugin.kill();
      client.close();
    }
  });

  it.skipIf(process.platform === 'win32')('PLUGIN_UNIX_SOCKET_GROUP: the socket 0660 and its directory 0770, that group\'s; an unknown group refused on either side', async () => {
    const gid = process.getgid!();
    const plugin = await launch({}, { unixSocketGroup: String(gid) });
    try {
      const socket = plugin.handshake.address;
      expect(statSync(socket).mode & 0o777).toBe(0o660);
      expect(statSync(socket).gid).toBe(gid);
      expect(statSync(path.dirname(socket)).mode & 0o777).toBe(0o770);
      expect(await greet(plugin.client(Greeter), 'group')).toBe('hello, group, from wirecall');
    } finally {
      expect((await plugin.kill()).via).toBe('controller');
    }
    await expect(launch({}, { unixSocketGroup: 'no-such-group-wirecall' })).rejects.toBeInstanceOf(InvalidOption);
    // The plugin's own check (a host that made no directory of its own for the group, like go-plugin's default).
    const err = await launch({ PLUGIN_UNIX_SOCKET_GROUP: 'no-such-group-wirecall' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginExited);
    expect((err as PluginExited).stderr.join('\n')).toMatch(/PLUGIN_UNIX_SOCKET_GROUP: no group named "no-such-group-wirecall"/);
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
