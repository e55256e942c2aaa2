import net from 'node:net';
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { AddressInUse, ConnectionFailed, ConnectionTimeout, InvalidEndpoint, InvalidOption } from '../errors.js';
import { connectError } from './connect.js';
import { connect, listen, tcpTransport, type Listener } from './index.js';
import { echoRoundTrip, echoServer } from '../test-util/echo.js';
import { firstLine, spawnNode } from '../test-util/node-child.js';
import { Scratch } from '../test-util/scratch.js';

const scratch = new Scratch();
const listeners: Listener[] = [];
afterEach(async () => {
  for (const l of listeners.splice(0)) await l.close();
  await scratch.cleanup();
});

async function serve(endpoint: string): Promise<Listener> {
  const l = await listen(endpoint, { onConnection: echoServer(scratch) });
  listeners.push(l);
  return l;
}

function hasIPv6Loopback(): boolean {
  return Object.values(os.networkInterfaces()).some((list) => list?.some((i) => i.address === '::1'));
}

/** A port nothing listens on: bind, note the port, close. */
async function freePort(): Promise<number> {
  const l = await listen('tcp://127.0.0.1:0', { onConnection: (s) => s.destroy() });
  const port = (l.endpoint as { port: number }).port;
  await l.close();
  return port;
}

describe('TCP listen/connect', () => {
  it('port 0 binds a real port and echoes bytes', async () => {
    const l = await serve('tcp://127.0.0.1:0');
    expect(l.endpoint.kind).toBe('tcp');
    const port = (l.endpoint as { port: number }).port;
    expect(port).toBeGreaterThan(0);
    expect(l.url).toBe(`tcp://127.0.0.1:${port}`);
    const socket = scratch.socket(await connect(l.url));
    const payload = Buffer.alloc(256 * 1024, 7);
    expect((await echoRoundTrip(socket, payload)).equals(payload)).toBe(true);
  });

  it('advertises the address a host name resolved to', async () => {
    const l = await serve('localhost:0');
    const ep = l.endpoint as { host: string; port: number };
    expect(net.isIP(ep.host)).not.toBe(0);
    const socket = scratch.socket(await connect(l.endpoint));
    expect((await echoRoundTrip(socket, Buffer.from('hi'))).toString()).toBe('hi');
  });

  it.runIf(hasIPv6Loopback())('works over IPv6 ::1', async () => {
    const l = await serve('[::1]:0');
    expect(l.url).toMatch(/^tcp:\/\/\[::1\]:\d+$/);
    const socket = scratch.socket(await connect(l.url));
    expect(socket.remoteFamily).toBe('IPv6');
    expect((await echoRoundTrip(socket, Buffer.from('six'))).toString()).toBe('six');
  });

  it('a refused connect is ConnectionFailed naming the endpoint, with the cause', async () => {
    const port = await freePort();
    const err = await connect(`127.0.0.1:${port}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionFailed);
    expect((err as Error).message).toContain(`tcp://127.0.0.1:${port}`);
    expect(((err as Error).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('a busy port is AddressInUse', async () => {
    const l = await serve('tcp://127.0.0.1:0');
    const err = await listen(l.url, { onConnection: () => {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AddressInUse);
    expect((err as Error).message).toContain(l.url);
  });

  it('close is idempotent, stops accepting and keeps accepted sockets open', async () => {
    const accepted: net.Socket[] = [];
    const l = await listen('tcp://127.0.0.1:0', {
      onConnection: (s) => {
        accepted.push(scratch.socket(s));
        s.pipe(s);
      },
    });
    const socket = scratch.socket(await connect(l.url));
    expect((await echoRoundTrip(socket, Buffer.from('before'))).toString()).toBe('before');
    await l.close();
    await l.close();
    expect(accepted).toHaveLength(1);
    expect((await echoRoundTrip(socket, Buffer.from('after'))).toString()).toBe('after');
    await expect(connect(l.url)).rejects.toBeInstanceOf(ConnectionFailed);
  });

  it('an onConnection that throws drops that socket and reports to onError', async () => {
    const errors: Error[] = [];
    const l = await listen('tcp://127.0.0.1:0', {
      onConnection: () => {
        throw new Error('handler blew up');
      },
      onError: (e) => errors.push(e),
    });
    listeners.push(l);
    const socket = scratch.socket(await connect(l.url));
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    expect(errors.map((e) => e.message)).toEqual(['handler blew up']);
  });

  it('rejects port 0 and non-tcp endpoints on connect', async () => {
    await expect(connect('127.0.0.1:0')).rejects.toBeInstanceOf(InvalidEndpoint);
    await expect(tcpTransport.connect({ kind: 'unix', path: '/tmp/x.sock' })).rejects.toThrow(/only handles tcp/);
    await expect(connect('127.0.0.1:1', { timeout: -1 })).rejects.toBeInstanceOf(InvalidOption);
  });

  it('maps DNS failures to ConnectionFailed (no lookup is made)', () => {
    const dnsError = Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.invalid'), {
      code: 'ENOTFOUND',
      hostname: 'nowhere.invalid',
    });
    const mapped = connectError(dnsError, 'tcp://nowhere.invalid:80');
    expect(mapped).toBeInstanceOf(ConnectionFailed);
    expect(mapped.message).toBe('cannot resolve host "nowhere.invalid" for tcp://nowhere.invalid:80');
    expect(mapped.cause).toBe(dnsError);
    const again = connectError(Object.assign(new Error('x'), { code: 'EAI_AGAIN', hostname: 'h' }), 'tcp://h:1');
    expect(again.message).toMatch(/temporary DNS failure/);
  });
});

describe('TCP connect timeout and abort', () => {
  /**
   * A local server whose accept queue is full: a child listens with backlog 1 and is
   * SIGSTOPped, so it never accepts. Once the kernel's queue is full, further SYNs are
   * dropped and connects hang (Linux behaviour), which is what a timeout needs.
   */
  async function stalledServer(): Promise<{ url: string }> {
    const child = scratch.child(
      spawnNode(`
        import net from 'node:net';
        const s = net.createServer();
        s.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => console.log(s.address().port));
      `),
    );
    const port = Number(await firstLine(child));
    child.kill('SIGSTOP');
    const url = `tcp://127.0.0.1:${port}`;
    // Fill the queue; bounded, since each successful connect takes one slot.
    for (let i = 0; i < 16; i++) {
      try {
        scratch.socket(await connect(url, { timeout: 500 }));
      } catch (err) {
        if (err instanceof ConnectionTimeout) return { url };
        throw err;
      }
    }
    throw new Error('accept queue never filled');
  }

  it.runIf(process.platform === 'linux')('a connect that does not complete in time is ConnectionTimeout', async () => {
    const { url } = await stalledServer();
    const err = await connect(url, { timeout: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionTimeout);
    expect((err as Error).message).toBe(`connecting to ${url} timed out after 200 ms`);
  });

  it.runIf(process.platform === 'linux')('an abort signal rejects a pending connect with its reason', async () => {
    const { url } = await stalledServer();
    const controller = new AbortController();
    const pending = connect(url, { timeout: 60_000, signal: controller.signal });
    const reason = new Error('user gave up');
    setTimeout(() => controller.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);
  });

  it('an already aborted signal rejects at once with its reason', async () => {
    const l = await serve('tcp://127.0.0.1:0');
    const controller = new AbortController();
    controller.abort();
    const err = await connect(l.url, { signal: controller.signal }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
  });
});
