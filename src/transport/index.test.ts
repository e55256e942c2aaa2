import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidEndpoint, InvalidOption } from '../errors.js';
import * as transport from './index.js';
import { echoRoundTrip, echoServer } from '../test-util/echo.js';
import { Scratch } from '../test-util/scratch.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

describe('transport index', () => {
  it('transportFor picks the transport for each kind', () => {
    expect(transport.transportFor('tcp')).toBe(transport.tcpTransport);
    expect(transport.transportFor('unix')).toBe(transport.unixTransport);
    expect(transport.transportFor('pipe')).toBe(transport.pipeTransport);
    expect(transport.transportFor('pipe').kind).toBe('pipe');
    expect(() => transport.transportFor('udp' as never)).toThrow(InvalidOption);
  });

  it('listen/connect accept strings and Endpoint objects alike', async () => {
    const tcp = await transport.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 }, { onConnection: echoServer(scratch) });
    try {
      const socket = scratch.socket(await transport.connect(tcp.url));
      expect((await echoRoundTrip(socket, Buffer.from('obj->str'))).toString()).toBe('obj->str');
    } finally {
      await tcp.close();
    }
    if (process.platform === 'win32') return;
    const file = path.join(scratch.dir(), 'i.sock');
    const unix = await transport.listen(`unix:${file}`, { onConnection: echoServer(scratch) });
    try {
      const socket = scratch.socket(await transport.connect({ kind: 'unix', path: file }));
      expect((await echoRoundTrip(socket, Buffer.from('str->obj'))).toString()).toBe('str->obj');
    } finally {
      await unix.close();
    }
  });

  it('bad strings and objects are InvalidEndpoint before touching the network', async () => {
    await expect(transport.listen('http://x:1', { onConnection: () => {} })).rejects.toBeInstanceOf(InvalidEndpoint);
    await expect(transport.connect('::1:80')).rejects.toThrow(/\[::1\]:80/);
    await expect(transport.connect({ kind: 'nope' } as never)).rejects.toBeInstanceOf(InvalidEndpoint);
    await expect(transport.listen('unix:', { onConnection: () => {} })).rejects.toBeInstanceOf(InvalidEndpoint);
  });
});
