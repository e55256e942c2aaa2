/**
 * Real go-plugin interop (issue 16), both ways, with the peers `npm run setup:go-plugin`
 * builds under .interop/: a Go go-plugin host (v1.8.0) launching the wirecall gRPC plugin,
 * and the wirecall host launching a Go go-plugin plugin and a pyvider-rpcplugin plugin.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PluginExited } from '../plugin/index.js';
import { buildIfStale } from '../test-util/build.js';
import { launchGrpcPlugin, type LaunchGrpcPluginOptions } from './index.js';
import { FIXTURE, GO_PLUGIN, Greeter, PYVIDER, PYVIDER_PLUGIN, PYVIDER_PYTHON, goPluginPeers, greet, runGoHost } from '../../test/go-plugin/peers.js';

const peers = goPluginPeers('go-plugin interop');

beforeAll(buildIfStale, 120_000);

describe.skipIf(!peers.run)('go-plugin interop (real peers from .interop/)', () => {
  it(`the peers are built (go-plugin v1.8.0 host and plugin, pyvider-rpcplugin ${PYVIDER})`, () => {
    peers.requireInstalled();
  });
});

describe.skipIf(!peers.go)('a go-plugin Go host launches the wirecall gRPC plugin', () => {
  const node = [process.execPath, FIXTURE];

  it('over a Unix socket: handshake, Ping (health "plugin"), a call to the user service, graceful kill', async () => {
    const report = await runGoHost(['-name', 'go'], node);
    expect(report.error).toBeUndefined();
    expect(report.runs[0]).toMatchObject({ protocol: 'grpc', version: 1, ping: true, reply: 'hello, go, from wirecall', graceful: true, exited: true });
  });

  it('with AutoMTLS, and stdout sent over GRPCStdio to the host\'s SyncStdout', async () => {
    const report = await runGoHost(['-automtls', '-name', 'tls'], node, { FIX_STDIO: 'stream' });
    expect(report.error).toBeUndefined();
    expect(report.autoMTLS).toBe(true);
    expect(report.runs[0]).toMatchObject({ ping: true, reply: 'hello, tls, from wirecall', graceful: true, exited: true, pluginStdout: 'greeted tls\n' });
  });

  it('over TCP in the host\'s port range', async () => {
    const report = await runGoHost(['-name', 'tcp'], node, { FIX_NETWORK: 'tcp' });
    expect(report.error).toBeUndefined();
    expect(report.runs[0]).toMatchObject({ ping: true, reply: 'hello, tcp, from wirecall', graceful: true, exited: true });
  });
});

describe('the wirecall host launches real go-plugin plugins', () => {
  const cases: [string, boolean, string, string[], string][] = [
    ['a Go go-plugin plugin', peers.go, GO_PLUGIN, [], 'go-plugin'],
    [`a pyvider-rpcplugin ${PYVIDER} plugin`, peers.pyvider, PYVIDER_PYTHON, [PYVIDER_PLUGIN], 'pyvider-rpcplugin'],
  ];
  for (const [what, present, command, args, from] of cases) {
    for (const autoMTLS of [false, true]) {
      it.skipIf(!present)(`${what}${autoMTLS ? ' with AutoMTLS' : ''}: health SERVING, a call, shutdown through GRPCController`, async () => {
        const options: LaunchGrpcPluginOptions = { autoMTLS, handshakeTimeout: 20_000 };
        const plugin = await launchGrpcPlugin(command, args, options);
        try {
          expect(plugin.handshake).toMatchObject({ coreVersion: 1, appVersion: 1, network: 'unix', protocol: 'grpc', multiplex: false });
          expect(plugin.tls).toBe(autoMTLS);
          expect(plugin.handshake.serverCert !== '').toBe(autoMTLS);
          expect(await plugin.health()).toBe('SERVING');
          expect(await greet(plugin.client(Greeter), 'node')).toBe(`hello, node, from ${from}`);
        } finally {
          expect(await plugin.kill()).toEqual({ code: 0, signal: null, via: 'controller' });
        }
        if (command === GO_PLUGIN) expect(existsSync(path.dirname(plugin.handshake.address))).toBe(false);
      });
    }
  }

  it.skipIf(!peers.go)('a Go plugin given another magic cookie refuses to run: PluginExited with go-plugin\'s message', async () => {
    const err = await launchGrpcPlugin(GO_PLUGIN, ['-cookie-value', 'another'], { handshakeTimeout: 20_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginExited);
    expect(err).toMatchObject({ exitCode: 1 });
    expect((err as PluginExited).stderr.join('\n')).toContain('This binary is a plugin');
  });
});
