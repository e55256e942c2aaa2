import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidEndpoint } from '../../errors.js';
import { parseEndpoint, type Endpoint } from '../../transport/endpoint.js';
import { addressOf, endpointOf, IPC_HOST, IPC_PORT, isLocalHost, locality } from './address.js';

// pipe:// lives in the private runtime dir: keep it in a temp dir of our own.
let savedXdg: string | undefined;
let runtime: string;
beforeAll(async () => {
  savedXdg = process.env['XDG_RUNTIME_DIR'];
  runtime = await fs.mkdtemp(path.join(os.tmpdir(), 'wcrt-'));
  process.env['XDG_RUNTIME_DIR'] = runtime;
});
afterAll(async () => {
  if (savedXdg === undefined) delete process.env['XDG_RUNTIME_DIR'];
  else process.env['XDG_RUNTIME_DIR'] = savedXdg;
  await fs.rm(runtime, { recursive: true, force: true });
});

describe('addressOf / endpointOf', () => {
  it.each<[string, Endpoint]>([
    ['tcp IPv4', { kind: 'tcp', host: '127.0.0.1', port: 18812 }],
    ['tcp IPv6', { kind: 'tcp', host: '::1', port: 18813 }],
    ['tcp host name', { kind: 'tcp', host: 'render-07.studio', port: 4000 }],
    ['tls', { kind: 'tcp', host: 'render-07.studio', port: 7443, tls: true }],
    ['tls IPv6', { kind: 'tcp', host: '::1', port: 7443, tls: true }],
    ['unix', { kind: 'unix', path: '/tmp/dcc-mcp/maya-1.sock' }],
  ])('%s round-trips', (_name, endpoint) => {
    const address = addressOf(endpoint);
    expect(endpointOf(address)).toEqual(endpoint);
  });

  it('writes dcc-mcp-core style addresses', () => {
    expect(addressOf({ kind: 'tcp', host: '::1', port: 9 })).toEqual({
      host: '::1',
      port: 9,
      transportAddress: { type: 'tcp', host: '::1', port: 9 },
    });
    expect(addressOf({ kind: 'unix', path: '/tmp/s.sock' })).toEqual({
      host: IPC_HOST,
      port: IPC_PORT,
      transportAddress: { type: 'unix_socket', path: '/tmp/s.sock' },
    });
  });

  it.runIf(process.platform !== 'win32')('a pipe is advertised as its real Unix socket and reached through it', () => {
    const address = addressOf({ kind: 'pipe', name: 'maya-7' });
    expect(address.host).toBe(IPC_HOST);
    expect(address.port).toBe(IPC_PORT);
    expect(address.transportAddress).toEqual({ type: 'unix_socket', path: path.join(runtime, 'wirecall', 'maya-7.sock') });
    expect(endpointOf(address)).toEqual({ kind: 'unix', path: path.join(runtime, 'wirecall', 'maya-7.sock') });
  });

  it.runIf(process.platform === 'win32')('a pipe round-trips as a named_pipe on Windows', () => {
    const address = addressOf({ kind: 'pipe', name: 'maya-7' });
    expect(address.transportAddress).toEqual({ type: 'named_pipe', path: '\\\\.\\pipe\\maya-7' });
    expect(endpointOf(address)).toEqual({ kind: 'pipe', name: 'maya-7' });
  });

  it.runIf(process.platform !== 'win32')('refuses a named_pipe row where there are no named pipes', () => {
    expect(() => endpointOf({ host: IPC_HOST, port: 0, transportAddress: { type: 'named_pipe', path: '\\\\.\\pipe\\x' } })).toThrow(
      InvalidEndpoint,
    );
  });

  it('falls back to host/port without transport_address (IPv6 host bracketed)', () => {
    expect(endpointOf({ host: '127.0.0.1', port: 18812 })).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 18812 });
    expect(endpointOf({ host: '::1', port: 18812 })).toEqual(parseEndpoint('tcp://[::1]:18812'));
  });

  it('refuses unusable rows', () => {
    // An IPC row that lost its transport_address: 127.0.0.1:0 is not connectable.
    expect(() => endpointOf({ host: IPC_HOST, port: 0 })).toThrow(InvalidEndpoint);
    const weird = { type: 'websocket', url: 'ws://x' } as unknown as { type: 'tcp'; host: string; port: number };
    expect(() => endpointOf({ host: IPC_HOST, port: 0, transportAddress: weird })).toThrow(/unknown transport_address type/);
  });
});

describe('locality', () => {
  const tcp = (host: string) => ({ host, port: 1, transportAddress: { type: 'tcp' as const, host, port: 1 } });

  it('ranks IPC before local TCP before remote TCP', () => {
    expect(locality({ host: IPC_HOST, port: 0, transportAddress: { type: 'unix_socket', path: '/tmp/a' } })).toBe(0);
    expect(locality({ host: IPC_HOST, port: 0, transportAddress: { type: 'named_pipe', path: '\\\\.\\pipe\\a' } })).toBe(0);
    for (const host of ['127.0.0.1', '127.0.1.1', '::1', 'localhost', '0.0.0.0', '::', '::ffff:127.0.0.1', os.hostname()]) {
      expect(locality(tcp(host)), host).toBe(1);
    }
    expect(locality(tcp('203.0.113.9'))).toBe(2);
    expect(locality(tcp('render-farm.invalid'))).toBe(2);
  });

  it('uses host when there is no transport_address', () => {
    expect(locality({ host: '127.0.0.1', port: 5 })).toBe(1);
    expect(locality({ host: '198.51.100.1', port: 5 })).toBe(2);
  });

  it('knows our own interface addresses', () => {
    const mine = Object.values(os.networkInterfaces()).flatMap((a) => a ?? []).map((a) => a.address);
    for (const address of mine) expect(isLocalHost(address), address).toBe(true);
  });
});
