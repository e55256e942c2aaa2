/** listen-env: the port range and the Unix socket's place read from the host's environment. */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidOption } from '../errors.js';
import { bindUnixSocket, portRange } from './listen-env.js';

describe('portRange', () => {
  it('unset: any port; set: checked', () => {
    expect(portRange({})).toEqual({ min: 0, max: 0 });
    expect(portRange({ PLUGIN_MIN_PORT: '10000', PLUGIN_MAX_PORT: '10002' })).toEqual({ min: 10000, max: 10002 });
    expect(() => portRange({ PLUGIN_MIN_PORT: 'x' })).toThrow(InvalidOption);
    expect(() => portRange({ PLUGIN_MIN_PORT: '3', PLUGIN_MAX_PORT: '2' })).toThrow(InvalidOption);
  });
});

describe('bindUnixSocket', () => {
  it('in PLUGIN_UNIX_SOCKET_DIR: a random name there, no directory of its own', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'listen-env-test-'));
    try {
      const socket = await bindUnixSocket({ PLUGIN_UNIX_SOCKET_DIR: dir }, async (file) => file, () => {});
      expect(path.dirname(socket.file)).toBe(dir);
      expect(path.basename(socket.file)).toMatch(/^plugin[0-9a-f]{12}$/);
      socket.removeOwnDir();
      expect(existsSync(dir)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without it: a private directory, removed when the bind fails', async () => {
    let tried = '';
    const failed = await bindUnixSocket(
      {},
      async (file) => {
        tried = file;
        throw new Error('no');
      },
      () => {},
    ).catch((e: unknown) => e);
    expect((failed as Error).message).toBe('no');
    expect(existsSync(path.dirname(tried))).toBe(false);
  });

  it('an unknown PLUGIN_UNIX_SOCKET_GROUP: InvalidOption, unbound and nothing left', async () => {
    let unbound = false;
    let made = '';
    const err = await bindUnixSocket(
      { PLUGIN_UNIX_SOCKET_GROUP: 'no-such-group-wirecall' },
      async (file) => {
        made = file;
        writeFileSync(file, '');
      },
      () => {
        unbound = true;
      },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidOption);
    expect(unbound).toBe(true);
    expect(existsSync(path.dirname(made))).toBe(false);
  });
});
