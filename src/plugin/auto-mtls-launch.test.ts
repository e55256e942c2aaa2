/**
 * AutoMTLS and PLUGIN_UNIX_SOCKET_GROUP between real processes: launchPlugin({ autoMTLS })
 * ↔ servePlugin (fixtures/plugin.mjs, run from dist/), over a Unix socket and TCP, and
 * every way the certificates can disagree.
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { CertificateUntrusted, InvalidOption } from '../errors.js';
import { connect } from '../rpc/client.js';
import { buildIfStale } from '../test-util/build.js';
import { PluginExited, PluginProtocolMismatch, launchPlugin, type LaunchOptions } from './index.js';
import { groupId } from './socket-group.js';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'plugin.mjs');
const unix = process.platform !== 'win32';

type Fixture = { echo(p: unknown): unknown; pid(): number };

function launch(mode = 'serve', options: LaunchOptions = {}, env: NodeJS.ProcessEnv = {}) {
  return launchPlugin<Fixture>(process.execPath, [FIXTURE, mode], { handshakeTimeout: 10_000, ...options, env: { ...process.env, ...env } });
}

beforeAll(buildIfStale, 120_000);

describe('AutoMTLS: launchPlugin({ autoMTLS: true }) ↔ servePlugin', () => {
  it.skipIf(!unix)('over a Unix socket: mutual TLS with exactly the two ephemeral certificates; a plain or foreign client is refused', async () => {
    const plugin = await launch('serve', { autoMTLS: true });
    try {
      expect(plugin.handshake).toMatchObject({ network: 'unix', protocol: 'wirecall' });
      expect(plugin.handshake.serverCert).toMatch(/^[A-Za-z0-9+/]{51,}$/);
      expect(plugin.endpoint).toMatch(/^unix:\//);
      expect(plugin.connection.peer?.tls).toMatchObject({ authorized: true, subject: { CN: 'localhost' } });
      expect(await plugin.connection.call('echo', { over: 'tls' })).toEqual({ over: 'tls' });
      // A second connection with the handle's tls option works …
      const again = await connect<Fixture>(plugin.endpoint, { tls: plugin.tls! });
      expect(await again.call('pid')).toBe(plugin.pid);
      await again.close();
      // … a plain one does not: the socket speaks TLS only.
      await expect(connect(plugin.endpoint, { handshakeTimeout: 2000 })).rejects.toThrow(/TLS/);
      // Trusting the plugin but without the host's certificate: refused.
      const { cert: _c, key: _k, ...anonymous } = plugin.tls!;
      await expect(connect(plugin.endpoint, { tls: anonymous, handshakeTimeout: 2000 })).rejects.toMatchObject({ code: 'ERR_TLS_CLIENT_CERT_REQUIRED' });
    } finally {
      expect(await plugin.kill()).toEqual({ code: 0, signal: null });
    }
  });

  it('over TCP: the endpoint is tls://127.0.0.1:port, the name checked is localhost', async () => {
    const plugin = await launch('serve', { autoMTLS: true, minPort: 20_000, maxPort: 29_999 }, { FIX_NETWORK: 'tcp' });
    try {
      expect(plugin.handshake.network).toBe('tcp');
      expect(plugin.endpoint).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
      expect(plugin.tls).toMatchObject({ servername: 'localhost', unixSockets: true });
      expect(await plugin.connection.call('echo', 'tcp+tls')).toBe('tcp+tls');
    } finally {
      expect(await plugin.kill()).toEqual({ code: 0, signal: null });
    }
  });

  it.skipIf(!unix)('a plugin that serves another certificate than the one it announced: CertificateUntrusted, process stopped', async () => {
    const err = await launch('wrong-cert', { autoMTLS: true, killGracePeriod: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CertificateUntrusted);
    expect(err).toMatchObject({ code: 'ERR_TLS_CERT_UNTRUSTED' });
  });

  it.skipIf(!unix)('a plugin that trusts another client certificate than the host’s: the host is told CertificateUntrusted', async () => {
    const err = await launch('other-client', { autoMTLS: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CertificateUntrusted);
    expect((err as Error).message).toMatch(/does not trust our client certificate|refused/);
  });

  it('one side without AutoMTLS: PluginProtocolMismatch either way', async () => {
    const noAnswer = await launch('no-mtls', { autoMTLS: true }).catch((e: unknown) => e);
    expect(noAnswer).toBeInstanceOf(PluginProtocolMismatch);
    expect((noAnswer as Error).message).toMatch(/announced no certificate/);
    // A host without AutoMTLS never sends PLUGIN_CLIENT_CERT, even one it inherited.
    const plugin = await launch('serve', {}, { PLUGIN_CLIENT_CERT: 'inherited from our own host' });
    try {
      expect(plugin.handshake.serverCert).toBe('');
      expect(plugin.tls).toBeUndefined();
      expect(await plugin.connection.call('echo', 'plain')).toBe('plain');
    } finally {
      await plugin.kill();
    }
  });

  it('a PLUGIN_CLIENT_CERT that is not a certificate: the plugin exits and says why', async () => {
    // The host never sends a bad one: the fixture sets it itself.
    const err = await launch('serve', {}, { FIX_ENV: JSON.stringify({ PLUGIN_CLIENT_CERT: 'junk' }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginExited);
    expect((err as PluginExited).stderr.join('\n')).toMatch(/ERR_PLUGIN_CLIENT_CERT_INVALID|PLUGIN_CLIENT_CERT must hold one PEM certificate/);
  });
});

describe.skipIf(!unix)('PLUGIN_UNIX_SOCKET_GROUP', () => {
  const gid = unix ? process.getgid!() : 0;

  it('by gid: the socket is group-writable (0660) and the socket directory 0770, both that group’s', async () => {
    const plugin = await launch('serve', { unixSocketGroup: String(gid), autoMTLS: true });
    try {
      const socket = plugin.endpoint.slice('unix:'.length);
      expect(statSync(socket).mode & 0o777).toBe(0o660);
      expect(statSync(socket).gid).toBe(gid);
      expect(statSync(path.dirname(socket)).mode & 0o777).toBe(0o770);
      expect(await plugin.connection.call('echo', 'group')).toBe('group');
    } finally {
      await plugin.kill();
    }
  });

  it('by name, as getent knows it', () => {
    const name = execFileSync('getent', ['group', String(gid)], { encoding: 'utf8', timeout: 5000 }).split(':')[0]!;
    expect(groupId(name, 'test')).toBe(gid);
    expect(groupId(String(gid), 'test')).toBe(gid);
    expect(() => groupId('bad name', 'test')).toThrow(InvalidOption);
  });

  it('an unknown group: InvalidOption on the host before anything starts; the plugin refuses one too', async () => {
    await expect(launch('serve', { unixSocketGroup: 'no-such-group-wirecall' })).rejects.toBeInstanceOf(InvalidOption);
    // The plugin's own check (a host that made no directory of its own, like go-plugin's default).
    const err = await launch('serve', {}, { FIX_ENV: JSON.stringify({ PLUGIN_UNIX_SOCKET_GROUP: 'no-such-group-wirecall' }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginExited);
    expect((err as PluginExited).stderr.join('\n')).toMatch(/no group named "no-such-group-wirecall"/);
  });
});
