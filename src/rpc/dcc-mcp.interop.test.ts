/**
 * wirecall's Connection and Server in dcc-mcp-core's envelope against real Python peers,
 * from the venvs `npm run setup:interop` creates under .interop/:
 *
 * - Always (CI included): an envelope peer written with Python `msgpack`
 *   (src/wire/fixtures/dcc_mcp_peer.py), since the installable dcc-mcp-core (0.20.x) has
 *   no envelope any more: `connect(…, { dialect: 'dcc-mcp' })` to its server over TCP
 *   and a Unix socket, its client against a wirecall server that serves a native client
 *   on the same port at the same moment, and `wirecall call --dialect dcc-mcp`.
 * - Opt-in: dcc-mcp-core 0.13.6 itself (not on PyPI; built from source where
 *   DCC_MCP_CORE_0136_SRC was given to the setup script): the same against its
 *   IpcListener and its connect_ipc client.
 *
 * Without the latest venv: with CI=true the tests fail; elsewhere they are skipped with one line.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RemoteError } from '../errors.js';
import { CLI, buildIfStale } from '../test-util/build.js';
import { Scratch } from '../test-util/scratch.js';
import { exited } from '../test-util/wait.js';
import { connect } from './client.js';
import type { Connection } from './connection.js';
import { createServer } from './server.js';
import { interopPeer, PYTHON, PYTHON_0136 } from '../test-util/interop.js';

const venv = interopPeer('dcc-mcp-core rpc interop');
const PEER = fileURLToPath(new URL('../wire/fixtures/dcc_mcp_peer.py', import.meta.url));
const PEER_0136 = fileURLToPath(new URL('../wire/fixtures/dcc_mcp_0136.py', import.meta.url));

const has0136 = existsSync(PYTHON_0136);

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

/** A Python peer process; resolves with the first line its `ready` test accepts (0.13.6 logs to stdout too). */
async function python(executable: string, args: string[], ready: (line: string) => boolean): Promise<{ child: ChildProcessWithoutNullStreams; line: string; stdout: () => string }> {
  const child = scratch.child(spawn(executable, args)) as ChildProcessWithoutNullStreams;
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const found = stdout.split('\n').find((l) => ready(l));
      if (found !== undefined) resolve(found);
    });
    child.once('exit', (code) => reject(new Error(`python exited ${code}: ${stderr}`)));
  });
  return { child, line, stdout: () => stdout };
}

const EVERY_BYTE = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

/** What every envelope server here answers: echo, fail, notify → "echo:<topic>", ping. */
async function exerciseEchoServer(conn: Connection, failText: string): Promise<void> {
  expect(conn.peer?.dialect).toBe('dcc-mcp');
  expect(await conn.call('echo', EVERY_BYTE)).toEqual(EVERY_BYTE);
  const big = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) % 256));
  expect(await conn.call('echo', big)).toEqual(big);
  const err = await conn.call('fail', Buffer.from('no')).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(RemoteError);
  expect((err as RemoteError).message).toBe(failText);
  expect(await conn.ping()).toBeGreaterThanOrEqual(0);
  const echoed = new Promise<[string, unknown]>((resolve) => conn.once('notification', (topic, data) => resolve([topic, data])));
  conn.notify('hello', Buffer.from([0, 0xff]));
  expect(await echoed).toEqual(['echo:hello', Buffer.from([0, 0xff])]);
  // 10,000 calls in a row, one at a time, each answered with its own params.
  for (let i = 0; i < 10_000; i++) {
    const r = (await conn.call('echo', Buffer.from(String(i)))) as Buffer;
    if (r.toString() !== String(i)) expect.fail(`call ${i} answered ${r.toString()}`);
  }
  // And 2,000 at once: the connection holds those beyond maxCallsInFlight back.
  const all = await Promise.all(Array.from({ length: 2000 }, (_, i) => conn.call('echo', Buffer.from(String(i)))));
  expect(all.every((r, i) => (r as Buffer).toString() === String(i))).toBe(true);
}

describe.skipIf(!venv.run)('dcc-mcp dialect ⇄ a Python envelope peer (msgpack)', () => {
  beforeAll(() => {
    venv.requireInstalled();
  });

  for (const transport of ['tcp', 'unix'] as const) {
    it(`connect(…, { dialect: 'dcc-mcp' }) to its server over ${transport}: bytes echoed, an error, ping, notify, 10,000 calls, shutdown`, async () => {
      const socketPath = path.join(scratch.dir(), 'peer.sock');
      const peer = await python(PYTHON, transport === 'tcp' ? [PEER, 'serve'] : [PEER, 'serve', socketPath], (l) => /^(\d+|ready)$/.test(l));
      const endpoint = transport === 'tcp' ? `tcp://127.0.0.1:${peer.line}` : `unix:${socketPath}`;
      const conn = await connect(endpoint, { dialect: 'dcc-mcp', heartbeatInterval: 0 });
      await exerciseEchoServer(conn, 'failed: no');
      // Our close sends shutdown; this peer answers it and hangs up.
      await conn.close();
      expect((await exited(peer.child, 5000)).code).toBe(0);
    }, 60_000);
  }

  it('its client ⇄ a wirecall server that serves a native client on the same port at the same moment', async () => {
    const server = scratch.server(createServer({ heartbeatInterval: 0, dccMcp: { codec: 'json' } }));
    server.register('add', ({ a, b }: { a: number; b: number }) => a + b);
    server.register('echo', (p: unknown) => p);
    server.register('fail', () => {
      throw new Error('nope');
    });
    const notes: unknown[] = [];
    server.on('connection', (c) => c.on('notification', (_topic, data) => notes.push(data)));
    const url = await server.listen('tcp://127.0.0.1:0');
    const native = scratch.server(await connect(url, { heartbeatInterval: 0 }));
    const nativeCalls = (async () => {
      let sum = 0;
      for (let i = 0; i < 500; i++) sum += (await native.call('add', { a: i, b: 1 })) as number;
      return sum;
    })();
    const py = scratch.child(spawn(PYTHON, [PEER, 'client', new URL(url).port])) as ChildProcessWithoutNullStreams;
    let stdout = '';
    py.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    expect((await exited(py, 15_000)).code).toBe(0);
    const r = JSON.parse(stdout) as Record<string, { success: boolean; payload: string; error: string | null }> & { problems: unknown[]; pong_same_id: boolean; after_shutdown: string[] };
    expect(r.problems).toEqual([]); // every frame had the shapes dcc-mcp-core requires
    expect(r.add).toEqual({ success: true, payload: '5', error: null });
    expect(JSON.parse(r.echo!.payload)).toBe('é✓');
    expect(r.fail).toEqual({ success: false, payload: '', error: 'nope' });
    expect(r.missing!.success).toBe(false);
    expect(r.missing!.error).toContain('missing');
    expect(r.pong_same_id).toBe(true);
    expect(r.after_shutdown).toEqual([]); // its shutdown: we close without a word
    expect(notes).toEqual([{ text: 'from python' }]);
    expect(await nativeCalls).toBe(500 * 499 / 2 + 500);
  });

  it(`wirecall call --dialect dcc-mcp tcp://127.0.0.1:PORT echo '"hi"' answers from the Python peer`, async () => {
    await buildIfStale();
    const peer = await python(PYTHON, [PEER, 'serve'], (l) => /^\d+$/.test(l));
    const cli = scratch.child(spawn(process.execPath, [CLI, 'call', '--dialect', 'dcc-mcp', `tcp://127.0.0.1:${peer.line}`, 'echo', '"hi"'])) as ChildProcessWithoutNullStreams;
    let stdout = '';
    cli.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    expect((await exited(cli, 15_000)).code).toBe(0);
    expect(stdout).toBe('"hi"\n');
  }, 60_000);
});

describe.skipIf(!has0136)('dcc-mcp dialect ⇄ dcc-mcp-core 0.13.6 itself (built from source, opt-in)', () => {
  /** Its own lines start with "@@" (the package logs to stdout as well). */
  const result = (l: string): boolean => l.startsWith('@@PORT ') || l === '@@READY';

  it(`connect(…, { dialect: 'dcc-mcp' }) to its IpcListener over TCP: bytes, an error, ping, notify, 10,000 calls, shutdown`, async () => {
    const peer = await python(PYTHON_0136, [PEER_0136, 'listen'], result);
    const conn = await connect(`tcp://127.0.0.1:${peer.line.slice('@@PORT '.length)}`, { dialect: 'dcc-mcp', heartbeatInterval: 0 });
    await exerciseEchoServer(conn, 'failed: no');
    await conn.close();
    // Our shutdown ends its channel: its loop sees that and the process exits 0.
    expect((await exited(peer.child, 5000)).code).toBe(0);
    expect(peer.stdout()).toContain('@@CLOSED');
  }, 90_000);

  // Its "unix" transport binds Linux's abstract namespace with the exact name length
  // (strace: bind(…, sun_path=@"/path", 2 + 1 + len)); Node 20's libuv connects to an
  // abstract name padded with NULs to 108 bytes, which is another name. So on Linux a
  // 0.13.6 IpcListener is reachable from Node over TCP only (docs/DCC-MCP.md).
  it('its Unix-socket IpcListener listens in the abstract namespace, which Node 20 cannot reach', async () => {
    const socketPath = path.join(scratch.dir(), 'dcc.sock');
    await python(PYTHON_0136, [PEER_0136, 'listen', socketPath], result);
    expect(existsSync(socketPath)).toBe(false);
    expect(readFileSync('/proc/net/unix', 'latin1')).toContain(` @${socketPath}\n`);
    const attempt = (target: string): Promise<string> =>
      new Promise((resolve) => {
        const s = net.connect(target, () => {
          s.destroy();
          resolve('connected');
        });
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
    expect(await attempt(socketPath)).toBe('ENOENT');
    expect(await attempt(`\0${socketPath}`)).toBe('ECONNREFUSED');
  }, 30_000);

  it('its connect_ipc client ⇄ a wirecall server serving a native client on the same port', async () => {
    const server = scratch.server(createServer({ heartbeatInterval: 0 }));
    server.register('echo', (p: unknown) => p);
    server.register('fail', () => {
      throw new Error('nope');
    });
    server.register('hello', (data: unknown, ctx) => ctx.connection.notify('echo:hello', data));
    const url = await server.listen('tcp://127.0.0.1:0');
    const native = scratch.server(await connect(url, { heartbeatInterval: 0 }));
    const peer = await python(PYTHON_0136, [PEER_0136, 'call', new URL(url).port], (l) => l.startsWith('@@{'));
    expect(await native.call('echo', 'native')).toBe('native');
    const r = JSON.parse(peer.line.slice(2)) as Record<string, unknown>;
    expect(r.echo).toMatchObject({ success: true, payload: [...Buffer.from('{"x":1}')], error: null });
    expect(r.fail).toBe("call 'fail' failed: nope");
    expect(typeof r.ping_rtt_ms).toBe('number');
    expect(r.notify).toMatchObject({ type: 'notify', topic: 'echo:hello', data: [0, 255] });
    expect((await exited(peer.child, 5000)).code).toBe(0);
  }, 30_000);

  it('its connect_ipc client may stay silent past handshakeTimeout: its channel answers the ping it is asked', async () => {
    const server = scratch.server(createServer({ heartbeatInterval: 0, handshakeTimeout: 300 }));
    server.register('echo', (p: unknown) => p);
    const url = await server.listen('tcp://127.0.0.1:0');
    const peer = await python(PYTHON_0136, [PEER_0136, 'idle-call', new URL(url).port, '1.2'], (l) => l.startsWith('@@{'));
    expect(JSON.parse(peer.line.slice(2))).toEqual({ payload: 'after idling' });
  }, 30_000);

  it(`wirecall call --dialect dcc-mcp answers from its IpcListener`, async () => {
    await buildIfStale();
    const peer = await python(PYTHON_0136, [PEER_0136, 'listen'], result);
    const port = peer.line.slice('@@PORT '.length);
    const cli = scratch.child(spawn(process.execPath, [CLI, 'call', '--dialect', 'dcc-mcp', `tcp://127.0.0.1:${port}`, 'echo', '"hi"'])) as ChildProcessWithoutNullStreams;
    let stdout = '';
    cli.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    expect((await exited(cli, 15_000)).code).toBe(0);
    expect(stdout).toBe('"hi"\n');
  }, 60_000);
});
