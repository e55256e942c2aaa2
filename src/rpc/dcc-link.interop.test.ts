/**
 * The rpc `dcc-link` dialect against the real dcc-mcp-core (the latest release pinned by
 * scripts/setup-interop.sh, 0.20.49 when written), from the venv `npm run setup:interop`
 * creates under .interop/. Fixture dcc_link_rpc_peer.py drives the package's own
 * IpcChannelAdapter and DccLinkFrame with the dialect's body convention.
 *
 * - Its IpcChannelAdapter server (the DCC side) ⇄ `connect(dccLinkEndpoint(name), { dialect:
 *   'dcc-link' })`: calls (JSON and MessagePack bodies), Err, Progress, Cancel, Push both
 *   ways, Ping both ways, a call from the Python side to our handler, 1000 calls in flight,
 *   close.
 * - Its IpcChannelAdapter client ⇄ a wirecall server listening at /tmp/<name>.sock that
 *   takes DCC-Link beside the native protocol.
 *
 * Without the venv: with CI=true the tests fail; elsewhere they are skipped with one line.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { CallCancelled, RemoteError } from '../errors.js';
import { buildIfStale } from '../test-util/build.js';
import { runCli } from '../test-util/cli-child.js';
import { Scratch } from '../test-util/scratch.js';
import { exited, waitFor } from '../test-util/wait.js';
import { connect } from './client.js';
import type { Connection } from './connection.js';
import { dccLinkEndpoint, type DccLinkOptions, type DccLinkProgress } from './dcc-link-codec.js';
import { createServer } from './server.js';
import { interopPeer, LATEST, PYTHON } from '../test-util/interop.js';

const venv = interopPeer('dcc-link rpc interop');
const PEER = fileURLToPath(new URL('../wire/fixtures/dcc_link_rpc_peer.py', import.meta.url));


const scratch = new Scratch();
const paths: string[] = [];
afterEach(async () => {
  await scratch.cleanup();
  // A channel unlinks its path once it has a client; not if it never got one.
  for (const p of paths.splice(0)) rmSync(p, { force: true });
});

let counter = 0;
const channelName = (): string => `wirecall-dcclink-rpc-${process.pid}-${Date.now()}-${++counter}`;

/** The fixture's "@@" lines, as they come. */
function lines(child: ChildProcessWithoutNullStreams): { all: string[]; stderr: () => string; next: (prefix: string) => Promise<string> } {
  const all: string[] = [];
  let buf = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith('@@')) all.push(line.slice(2));
    }
  });
  const next = (prefix: string): Promise<string> =>
    waitFor(
      `python: a line ${prefix}`,
      () => {
        if (child.exitCode !== null && !all.some((l) => l.startsWith(prefix))) throw new Error(`python exited ${child.exitCode}: ${err}`);
        return all.find((l) => l.startsWith(prefix))?.slice(prefix.length);
      },
      20_000,
    );
  return { all, stderr: () => err, next };
}

/** Its IpcChannelAdapter.create(name) and wait_for_client, then our client on the channel. */
async function dccSide(dccLink: DccLinkOptions): Promise<{ client: Connection; child: ChildProcessWithoutNullStreams; out: ReturnType<typeof lines> }> {
  venv.requireInstalled();
  const name = channelName();
  paths.push(`/tmp/${name}.sock`);
  const child = scratch.child(spawn(PYTHON, [PEER, 'serve', name]));
  const out = lines(child);
  expect(await out.next('READY ')).toBe(`/tmp/${name}.sock`);
  const client = scratch.server(await connect(dccLinkEndpoint(name), { dialect: 'dcc-link', heartbeatInterval: 0, dccLink }));
  return { client, child, out };
}

describe.skipIf(!venv.run)(`DCC-Link rpc: wirecall client ⇄ dcc-mcp-core ${LATEST} IpcChannelAdapter server`, () => {
  it('JSON bodies: call, Err, Progress, Cancel, Push both ways, Ping both ways, its call to our handler, 1000 calls, close', async () => {
    const progress: DccLinkProgress[] = [];
    const { client, child, out } = await dccSide({ results: 'json', onProgress: (p) => progress.push(p) });
    expect(client.peer?.dialect).toBe('dcc-link');
    expect(await client.call('echo', { a: [1, 'two', null], u: 'ünï' })).toEqual({ a: [1, 'two', null], u: 'ünï' });
    const err = (await client.call('fail', 'x').catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toBe('failed: x');
    expect((await client.call('nope').catch((e: unknown) => e)) as Error).toMatchObject({ message: 'unknown method nope' });

    expect(await client.call('progress', 3)).toBe('done');
    expect(progress.map((p) => [p.method, JSON.parse(p.body.toString())])).toEqual([
      ['progress', { step: 0 }],
      ['progress', { step: 1 }],
      ['progress', { step: 2 }],
    ]);

    const ac = new AbortController();
    const slow = client.call('slow', null, { signal: ac.signal });
    const timed = client.call('slow', null, { timeout: 50 });
    setTimeout(() => ac.abort(), 20);
    await expect(slow).rejects.toBeInstanceOf(CallCancelled);
    await expect(timed).rejects.toThrow(/deadline/);

    const notes: [string, unknown][] = [];
    client.on('notification', (m, p) => notes.push([m, p]));
    client.notify('scene.saved', { path: '/a.ma' });
    expect(await client.call('push_client', 2)).toBe(2);
    await waitFor('pushes', () => notes.length === 3);
    expect(notes).toEqual([
      ['echo.scene.saved', { path: '/a.ma' }],
      ['scene.changed', { n: 0 }],
      ['scene.changed', { n: 1 }],
    ]);

    expect(await client.ping({ timeout: 5000 })).toBeGreaterThanOrEqual(0);
    expect(await client.call('ping_client')).toEqual({ seq: '4242', body: 'py' });

    client.register('question', (q: unknown) => `node says yes to ${String(q)}`);
    expect(await client.call('callback', { method: 'question', params: 'ready?' })).toEqual({ type: 2, body: '"node says yes to ready?"' });
    expect(await client.call('callback', { method: 'missing' })).toMatchObject({ type: 3, body: 'method not found: missing' });

    // 1000 calls written at once, answered one by one in its loop.
    const many = await Promise.all(Array.from({ length: 1000 }, (_, i) => client.call('echo', i)));
    expect(many).toEqual(Array.from({ length: 1000 }, (_, i) => i));

    const state = (await client.call('state')) as { cancelled: string[]; unanswered: string[]; pushes: unknown[]; pongs: unknown[] };
    expect(state.cancelled).toEqual(state.unanswered);
    expect(state.cancelled).toHaveLength(2);
    expect(state.pushes).toEqual([['scene.saved', { path: '/a.ma' }]]);

    await client.close();
    const closed = JSON.parse(await out.next('CLOSED ')) as { error: string };
    expect(closed.error).toMatch(/failed to fill whole buffer|I\/O error/);
    expect((await exited(child, 10_000)).code).toBe(0);
  });

  it("MessagePack bodies (codec 'msgpack', results 'msgpack'), and the peer's close ends the connection cleanly", async () => {
    const { client, child } = await dccSide({ codec: 'msgpack', results: 'msgpack' });
    expect(await client.call('echo', { bin: Buffer.from([0, 0xff]), n: 2 ** 40 })).toEqual({ bin: Buffer.from([0, 0xff]), n: 2 ** 40 });
    expect(await client.call('progress', 1)).toBe('done');
    const closed = new Promise<unknown>((resolve) => client.once('close', resolve));
    child.kill('SIGTERM');
    expect(await closed).toBeUndefined();
    expect(client.state).toBe('closed');
  });
});

describe.skipIf(!venv.run)(`wirecall call --dialect dcc-link against dcc-mcp-core ${LATEST}`, () => {
  it('sends the JSON params in a Call and prints the Reply', async () => {
    venv.requireInstalled();
    await buildIfStale();
    const name = channelName();
    paths.push(`/tmp/${name}.sock`);
    const child = scratch.child(spawn(PYTHON, [PEER, 'serve', name]));
    const out = lines(child);
    await out.next('READY ');
    const result = await runCli(['call', '--dialect', 'dcc-link', `unix:/tmp/${name}.sock`, 'echo', '{"a":[1,"two"]}']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('{"a":[1,"two"]}\n');
    expect(result.code).toBe(0);
  }, 60_000);
});

describe.skipIf(!venv.run)(`DCC-Link rpc: dcc-mcp-core ${LATEST} IpcChannelAdapter client ⇄ wirecall server`, () => {
  it("its connect(name) reaches a server at /tmp/<name>.sock with dialects ['wirecall', 'dcc-link']", async () => {
    venv.requireInstalled();
    const name = channelName();
    paths.push(`/tmp/${name}.sock`);
    const server = scratch.server(createServer({ heartbeatInterval: 0, dialects: ['wirecall', 'dcc-link'], dccLink: { results: 'json' } }));
    let cancelled: unknown;
    const notes: unknown[] = [];
    server.register('echo', (p: unknown) => p);
    server.register('add', ({ a, b }: { a: number; b: number }) => a + b);
    server.register('fail', (p: unknown) => {
      throw new Error(`no ${String(p)}`);
    });
    server.register('ask', async (q: unknown, ctx) => `python said: ${String(await ctx.connection.call('question', q))}`);
    server.register('hang', (_p: unknown, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve((cancelled = ctx.signal.reason)))));
    server.register('wasCancelled', () => cancelled instanceof CallCancelled);
    server.register('note', (p: unknown) => void notes.push(p));
    server.register('notes', () => notes);
    expect(await server.listen(dccLinkEndpoint(name))).toBe(`unix:/tmp/${name}.sock`);
    const native = scratch.server(await connect(dccLinkEndpoint(name), { heartbeatInterval: 0 }));
    expect(await native.call('add', { a: 1, b: 2 })).toBe(3);

    const child = scratch.child(spawn(PYTHON, [PEER, 'client', name]));
    const out = lines(child);
    const res = JSON.parse(await out.next('')) as Record<string, any>;
    const reply = (body: unknown) => ({ type: 2, body: JSON.stringify(body) });
    expect(res.pong).toEqual([8, '1', 'hi']);
    expect(res.echo).toEqual(reply({ a: [1, 2] }));
    expect(res.add).toEqual(reply(42));
    expect(res.fail).toEqual({ type: 3, body: 'no x' });
    expect(res.unknown).toEqual({ type: 3, body: 'method not found: nope' });
    expect(res.bad_body.type).toBe(3);
    expect(res.bad_body.body).toMatch(/call body is not UTF-8 JSON/);
    expect(res.ask).toEqual(reply('python said: python says yes to ready?'));
    expect(res.cancelled).toEqual(reply(true));
    expect(res.notes).toEqual(reply(['from python']));
    expect(res.calls_ok).toBe(1000);
    expect(res.other).toBeUndefined();
    expect((await exited(child, 10_000)).code).toBe(0);
    await waitFor('its connection to close', () => server.connections.size === 1);
    expect(await native.call('echo', 'still here')).toBe('still here');
  });
});
