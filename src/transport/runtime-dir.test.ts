import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransportError } from '../errors.js';
import { connect, listen, pipePath, privateRuntimeDir, runtimeDirPath } from './index.js';
import { echoRoundTrip, echoServer } from '../test-util/echo.js';
import { Scratch } from '../test-util/scratch.js';

const posix = process.platform !== 'win32';
const scratch = new Scratch();
afterEach(() => scratch.cleanup());

const mode = (p: string): number => fs.lstatSync(p).mode & 0o777;

describe.runIf(posix)('privateRuntimeDir', () => {
  it('uses $XDG_RUNTIME_DIR/wirecall and creates it 0700', () => {
    const xdg = scratch.dir();
    const dir = privateRuntimeDir({ XDG_RUNTIME_DIR: xdg });
    expect(dir).toBe(path.join(xdg, 'wirecall'));
    expect(fs.lstatSync(dir).isDirectory()).toBe(true);
    expect(mode(dir)).toBe(0o700);
    // A second call accepts the directory it made.
    expect(privateRuntimeDir({ XDG_RUNTIME_DIR: xdg })).toBe(dir);
  });

  it('falls back to <tmpdir>/wirecall-<uid>, ignoring a relative XDG_RUNTIME_DIR', () => {
    const expected = path.join(os.tmpdir(), `wirecall-${process.getuid!()}`);
    expect(runtimeDirPath({})).toBe(expected);
    expect(runtimeDirPath({ XDG_RUNTIME_DIR: '' })).toBe(expected);
    expect(runtimeDirPath({ XDG_RUNTIME_DIR: 'relative/dir' })).toBe(expected);
  });

  it('refuses a directory with group/other permissions and leaves it alone', () => {
    const xdg = scratch.dir();
    const dir = path.join(xdg, 'wirecall');
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o755);
    expect(() => privateRuntimeDir({ XDG_RUNTIME_DIR: xdg })).toThrow(TransportError);
    expect(() => privateRuntimeDir({ XDG_RUNTIME_DIR: xdg })).toThrow(/mode 755 gives group\/other access/);
    expect(mode(dir)).toBe(0o755);
  });

  it('refuses a symlink, even to a private directory', () => {
    const xdg = scratch.dir();
    const real = path.join(xdg, 'real');
    fs.mkdirSync(real, { mode: 0o700 });
    fs.symlinkSync(real, path.join(xdg, 'wirecall'));
    expect(() => privateRuntimeDir({ XDG_RUNTIME_DIR: xdg })).toThrow(/is a symlink/);
  });

  it('refuses something that is not a directory', () => {
    const xdg = scratch.dir();
    fs.writeFileSync(path.join(xdg, 'wirecall'), 'x');
    expect(() => privateRuntimeDir({ XDG_RUNTIME_DIR: xdg })).toThrow(/not a directory/);
  });

  it.runIf(process.getuid?.() === 0)('refuses a directory owned by someone else', () => {
    const xdg = scratch.dir();
    const dir = path.join(xdg, 'wirecall');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.chownSync(dir, 4242, 4242);
    expect(() => privateRuntimeDir({ XDG_RUNTIME_DIR: xdg })).toThrow(/owned by uid 4242/);
  });

  it('reports a missing XDG_RUNTIME_DIR clearly', () => {
    const xdg = path.join(scratch.dir(), 'missing');
    expect(() => privateRuntimeDir({ XDG_RUNTIME_DIR: xdg })).toThrow(/cannot create the private runtime directory/);
  });
});

describe.runIf(posix)('pipe:// on POSIX', () => {
  let saved: string | undefined;
  let xdg: string;
  beforeEach(() => {
    saved = process.env['XDG_RUNTIME_DIR'];
    xdg = scratch.dir();
    process.env['XDG_RUNTIME_DIR'] = xdg;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env['XDG_RUNTIME_DIR'];
    else process.env['XDG_RUNTIME_DIR'] = saved;
  });

  it('maps a pipe name into the private runtime dir', () => {
    expect(pipePath('demo')).toBe(path.join(xdg, 'wirecall', 'demo.sock'));
    expect(mode(path.join(xdg, 'wirecall'))).toBe(0o700);
  });

  it('listens and connects through the private runtime dir', async () => {
    const listener = await listen('pipe://demo', { onConnection: echoServer(scratch) });
    try {
      expect(listener.endpoint).toEqual({ kind: 'pipe', name: 'demo' });
      expect(listener.url).toBe('pipe://demo');
      const file = path.join(xdg, 'wirecall', 'demo.sock');
      expect(fs.lstatSync(file).isSocket()).toBe(true);
      expect(mode(file)).toBe(0o600);
      const socket = scratch.socket(await connect('pipe://demo'));
      expect((await echoRoundTrip(socket, Buffer.from('over a pipe'))).toString()).toBe('over a pipe');
      await listener.close();
      expect(fs.existsSync(file)).toBe(false);
    } finally {
      await listener.close();
    }
  });

  it('refuses an unsafe runtime dir (0755) for listen and connect', async () => {
    const dir = path.join(xdg, 'wirecall');
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o755);
    expect(() => pipePath('demo')).toThrow(TransportError);
    await expect(listen('pipe://demo', { onConnection: () => {} })).rejects.toThrow(/unsafe runtime directory/);
    await expect(connect('pipe://demo')).rejects.toThrow(/unsafe runtime directory/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('re-checks the socket length when deriving the pipe path', () => {
    const deep = path.join(xdg, 'd'.repeat(60));
    fs.mkdirSync(deep);
    process.env['XDG_RUNTIME_DIR'] = deep;
    expect(() => pipePath('n'.repeat(40))).toThrow(/bytes; the limit/);
  });
});
