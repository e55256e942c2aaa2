import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AddressInUse, ConnectionFailed, InvalidEndpoint, InvalidOption, TransportError } from '../errors.js';
import { trackedSocketFiles } from './socket-registry.js';
import { connect, listen, UNIX_PATH_MAX, unixTransport, type Listener, type ListenOptions } from './index.js';
import { buildTransportForChildren } from '../test-util/build.js';
import { echoRoundTrip, echoServer } from '../test-util/echo.js';
import { firstLine, spawnNode } from '../test-util/node-child.js';
import { Scratch } from '../test-util/scratch.js';
import { exited } from '../test-util/wait.js';

const scratch = new Scratch();
const listeners: Listener[] = [];
afterEach(async () => {
  for (const l of listeners.splice(0)) await l.close();
  await scratch.cleanup();
});

const mode = (p: string): number => fs.lstatSync(p).mode & 0o777;
const isSocket = (p: string): boolean => fs.lstatSync(p, { throwIfNoEntry: false })?.isSocket() ?? false;

async function serve(endpoint: string | undefined, extra: Partial<ListenOptions> = {}): Promise<Listener> {
  const l = await listen(endpoint, { onConnection: echoServer(scratch), ...extra });
  listeners.push(l);
  return l;
}

function socketPathOf(l: Listener): string {
  if (l.endpoint.kind !== 'unix') throw new Error('not a unix listener');
  return l.endpoint.path;
}

/** Leaves a stale socket file behind: a child binds it and is SIGKILLed. */
async function staleSocketAt(file: string): Promise<void> {
  const child = scratch.child(
    spawnNode(
      `import net from 'node:net';
       net.createServer().listen(process.env.WC_ARG, () => console.log('up'));`,
      file,
    ),
  );
  expect(await firstLine(child)).toBe('up');
  child.kill('SIGKILL');
  await exited(child, 10_000);
  expect(isSocket(file)).toBe(true);
}

describe.runIf(process.platform !== 'win32')('Unix sockets', () => {
  it('undefined listens on a random socket in a private 0700 dir, socket 0600', async () => {
    const l = await serve(undefined);
    const file = socketPathOf(l);
    const dir = path.dirname(file);
    expect(l.url).toBe(`unix:${file}`);
    expect(path.dirname(dir)).toBe(os.tmpdir());
    expect(path.basename(file)).toMatch(/^[0-9a-f]{16}\.sock$/);
    expect(mode(dir)).toBe(0o700);
    expect(isSocket(file)).toBe(true);
    expect(mode(file)).toBe(0o600);

    const other = await serve(undefined);
    expect(socketPathOf(other)).not.toBe(file);

    const socket = scratch.socket(await connect(l.url));
    expect((await echoRoundTrip(socket, Buffer.from('hello unix'))).toString()).toBe('hello unix');
    await l.close();
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('binds an explicit path with 0600 by default and 0660 on request, leaving no temp files', async () => {
    const dir = scratch.dir();
    const a = await serve(`unix:${dir}/a.sock`);
    const b = await serve(path.join(dir, 'b.sock'), { socketMode: 0o660 });
    expect(mode(socketPathOf(a))).toBe(0o600);
    expect(mode(socketPathOf(b))).toBe(0o660);
    expect(fs.readdirSync(dir).sort()).toEqual(['a.sock', 'b.sock']);
    const socket = scratch.socket(await connect(b.endpoint));
    expect((await echoRoundTrip(socket, Buffer.from('660'))).toString()).toBe('660');
  });

  it('rejects a socket mode other than 0600/0660', async () => {
    const dir = scratch.dir();
    await expect(
      listen(`${dir}/x.sock`, { onConnection: () => {}, socketMode: 0o666 as unknown as 0o600 }),
    ).rejects.toBeInstanceOf(InvalidOption);
  });

  it('falls back to a direct bind when the temp path would be too long', async () => {
    // Long enough that "<dir>/.wc-XXXXXX/s" exceeds the limit, short enough for the target itself.
    const base = scratch.dir();
    const dir = path.join(base, 'd'.repeat(UNIX_PATH_MAX - 10 - Buffer.byteLength(base)));
    fs.mkdirSync(dir);
    const target = path.join(dir, 'x.sock');
    expect(Buffer.byteLength(target)).toBeLessThanOrEqual(UNIX_PATH_MAX);
    expect(Buffer.byteLength(`${dir}/.wc-XXXXXX/s`)).toBeGreaterThan(UNIX_PATH_MAX);
    const l = await serve(target, { socketMode: 0o660 });
    expect(mode(target)).toBe(0o660);
    const socket = scratch.socket(await connect(l.url));
    expect((await echoRoundTrip(socket, Buffer.from('long'))).toString()).toBe('long');
    await l.close();
    expect(fs.existsSync(target)).toBe(false);
  });

  it('replaces a stale socket left by a killed process', async () => {
    const file = path.join(scratch.dir(), 'stale.sock');
    await staleSocketAt(file);
    const before = fs.lstatSync(file).ino;
    const l = await serve(file);
    expect(fs.lstatSync(file).ino).not.toBe(before);
    const socket = scratch.socket(await connect(l.url));
    expect((await echoRoundTrip(socket, Buffer.from('fresh'))).toString()).toBe('fresh');
  });

  it('refuses a path where a server is running', async () => {
    const file = path.join(scratch.dir(), 'live.sock');
    const l = await serve(file);
    const err = await listen(file, { onConnection: () => {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AddressInUse);
    expect((err as Error).message).toMatch(/already in use by a running server/);
    // The first server is untouched.
    const socket = scratch.socket(await connect(l.url));
    expect((await echoRoundTrip(socket, Buffer.from('still here'))).toString()).toBe('still here');
  });

  it.each([
    ['a regular file', (p: string) => fs.writeFileSync(p, 'precious'), /is a regular file, not a socket/],
    ['a directory', (p: string) => fs.mkdirSync(p), /is a directory, not a socket/],
    ['a symlink', (p: string) => fs.symlinkSync('/nonexistent', p), /is a symlink, not a socket/],
  ])('refuses %s at the path and leaves it there', async (_what, make, message) => {
    const dir = scratch.dir();
    const file = path.join(dir, 'x.sock');
    make(file);
    const before = fs.lstatSync(file);
    const err = await listen(file, { onConnection: () => {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(message);
    const after = fs.lstatSync(file);
    expect(after.ino).toBe(before.ino);
    expect(fs.readdirSync(dir)).toEqual(['x.sock']);
  });

  it('needs the parent directory to exist', async () => {
    const missing = path.join(scratch.dir(), 'nope', 'x.sock');
    await expect(listen(missing, { onConnection: () => {} })).rejects.toThrow(/directory .*nope does not exist/);
  });

  it('close is idempotent, removes the file, keeps accepted sockets', async () => {
    const file = path.join(scratch.dir(), 'c.sock');
    const l = await serve(file);
    const socket = scratch.socket(await connect(l.url));
    expect((await echoRoundTrip(socket, Buffer.from('1'))).toString()).toBe('1');
    const tracked = trackedSocketFiles();
    await l.close();
    expect(fs.existsSync(file)).toBe(false);
    expect(trackedSocketFiles()).toBe(tracked - 1);
    await l.close();
    expect((await echoRoundTrip(socket, Buffer.from('2'))).toString()).toBe('2');
    const err = await connect(l.url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionFailed);
  });

  it('close does not remove a file that is no longer ours', async () => {
    const file = path.join(scratch.dir(), 'r.sock');
    const l = await serve(file);
    fs.unlinkSync(file);
    fs.writeFileSync(file, 'someone else');
    await l.close();
    expect(fs.readFileSync(file, 'utf8')).toBe('someone else');
  });

  it('connect errors name the endpoint', async () => {
    const dir = scratch.dir();
    const missing = await connect(`unix:${dir}/none.sock`).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ConnectionFailed);
    expect((missing as Error).message).toBe(`no server at unix:${dir}/none.sock (the socket file does not exist)`);

    const file = path.join(dir, 'dead.sock');
    await staleSocketAt(file);
    const refused = await connect(file).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectionFailed);
    expect((refused as Error).message).toMatch(/connection refused by unix:.*dead\.sock/);
    expect(((refused as Error).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('rejects endpoints of the wrong kind and invalid objects', async () => {
    await expect(unixTransport.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 }, { onConnection: () => {} })).rejects.toThrow(
      /only handles unix/,
    );
    await expect(connect({ kind: 'unix', path: '' })).rejects.toBeInstanceOf(InvalidEndpoint);
  });
});

describe.runIf(process.platform !== 'win32')('in child processes', () => {
  const build = new Scratch();
  let indexUrl: string;
  beforeAll(() => {
    indexUrl = buildTransportForChildren(build.dir());
  });
  afterAll(() => build.cleanup());

  const server = (extra = ''): string => `
    import { listen } from ${JSON.stringify(indexUrl)};
    const l = await listen(process.env.WC_ARG || undefined, { onConnection: (s) => s.end() });
    ${extra}
    console.log(l.url);
  `;

  async function start(script: string, arg = ''): Promise<{ child: ReturnType<typeof spawnNode>; file: string }> {
    const child = scratch.child(spawnNode(script, arg));
    const url = await firstLine(child);
    expect(url.startsWith('unix:')).toBe(true);
    const file = url.slice('unix:'.length);
    expect(isSocket(file)).toBe(true);
    return { child, file };
  }

  it.each(['SIGTERM', 'SIGINT'] as const)('%s removes the socket file and the process still dies by it', async (signal) => {
    const { child, file } = await start(server(), path.join(scratch.dir(), 'sig.sock'));
    child.kill(signal);
    expect(await exited(child, 10_000)).toEqual({ code: null, signal });
    expect(fs.existsSync(file)).toBe(false);
  });

  it('SIGTERM also removes the private dir of an auto socket', async () => {
    const { child, file } = await start(server());
    child.kill('SIGTERM');
    expect(await exited(child, 10_000)).toEqual({ code: null, signal: 'SIGTERM' });
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.existsSync(path.dirname(file))).toBe(false);
  });

  it('leaves the decision to exit to an application SIGTERM handler', async () => {
    const { child, file } = await start(
      server(`process.on('SIGTERM', () => { console.log('handled'); setTimeout(() => process.exit(7), 50); });`),
      path.join(scratch.dir(), 'app.sock'),
    );
    const handled = firstLine(child);
    child.kill('SIGTERM');
    expect(await handled).toBe('handled');
    expect(await exited(child, 10_000)).toEqual({ code: 7, signal: null });
    expect(fs.existsSync(file)).toBe(false);
  });

  it('a normal exit without close removes the socket file', async () => {
    const { child, file } = await start(server(`setTimeout(() => process.exit(0), 100);`), path.join(scratch.dir(), 'exit.sock'));
    expect(await exited(child, 10_000)).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(file)).toBe(false);
  });

  it.runIf(process.getuid?.() === 0)('a socket we may not probe (EACCES) is refused, not deleted', async () => {
    // Root owns a live 0600 socket; an unprivileged child trying to listen there gets
    // EACCES from the probe and must leave the file alone.
    const dir = scratch.dir();
    fs.chmodSync(dir, 0o755);
    fs.chmodSync(path.dirname(path.dirname(new URL(indexUrl).pathname)), 0o755);
    const file = path.join(dir, 'root.sock');
    await serve(file);
    const child = scratch.child(
      spawnNode(
        `import { listen } from ${JSON.stringify(indexUrl)};
         try { await listen(process.env.WC_ARG, { onConnection() {} }); console.log('listening'); }
         catch (e) { console.log(e.name + ': ' + e.message); }
         process.exit(0);`,
        file,
        { uid: 65534, gid: 65534 },
      ),
    );
    const line = await firstLine(child);
    expect(line).toMatch(/^TransportError: .*permission denied while probing it.*not removing it/);
    expect(isSocket(file)).toBe(true);
    await exited(child, 10_000);
  });
});
