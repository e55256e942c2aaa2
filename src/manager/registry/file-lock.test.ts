/**
 * The registry's locks, seen through the FileRegistry: wirecall's older mkdir lock
 * (services.json.lock: stale takeover, owner records) and the temp files of writers that
 * died under it. dcc-mcp-core's services.lock has its own file (services-lock.test.ts).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../transport/endpoint.js';
import { deadPid } from '../../test-util/registry-files.js';
import { Scratch } from '../../test-util/scratch.js';
import { withFileLock } from './file-lock.js';
import { FileRegistry, type FileRegistryOptions } from './file-registry.js';

const TCP: Endpoint = { kind: 'tcp', host: '127.0.0.1', port: 18812 };
const UNIX: Endpoint = { kind: 'unix', path: '/tmp/dcc-mcp/maya-1.sock' };
/** What a registry directory holds after a register() for this process: no temp file, no services.json.lock. */
const AFTER_REGISTER = ['locks', 'services.json', 'services.lock'];

const scratch = new Scratch();
let dir: string;
let warnings: string[];

function open(options: FileRegistryOptions = {}): FileRegistry {
  return new FileRegistry({ dir, onWarning: (m) => warnings.push(m), ...options });
}

beforeEach(() => {
  dir = scratch.dir();
  warnings = [];
});
afterEach(() => scratch.cleanup());

describe('the lock', () => {
  it('takes over a lock left by a dead process', async () => {
    const lock = path.join(dir, 'services.json.lock');
    await fs.mkdir(lock);
    const old = new Date(Date.now() - 60_000);
    await fs.utimes(lock, old, old);
    const reg = open({ lockStaleMs: 2_000, lockTimeoutMs: 10_000 });
    await reg.register('maya', TCP);
    expect((await fs.readdir(dir)).sort()).toEqual(AFTER_REGISTER);
  });

  it('gives up after lockTimeoutMs while a live process holds it; reads do not need it', async () => {
    const lock = path.join(dir, 'services.json.lock');
    await open().register('maya', TCP);
    await fs.mkdir(lock); // fresh mtime: a live holder
    const reg = open({ lockStaleMs: 60_000, lockTimeoutMs: 100 });
    await expect(reg.register('maya', UNIX)).rejects.toThrow(/timed out after 100 ms waiting for the registry lock/);
    expect(await reg.listAll()).toHaveLength(1);
    await fs.rmdir(lock);
    await reg.register('maya', UNIX);
    expect(await reg.listAll()).toHaveLength(2);
  });
});

describe('lock records', () => {
  const lock = (): string => path.join(dir, 'services.json.lock');

  /** A lock directory as a holder leaves it, with its record, refreshed `ageMs` ago. */
  async function heldBy(owner: Record<string, unknown>, ageMs: number, name = `owner-${String(owner['pid'])}-0123abcd.json`): Promise<void> {
    await fs.mkdir(lock());
    await fs.writeFile(path.join(lock(), name), JSON.stringify(owner));
    const at = new Date(Date.now() - ageMs);
    await fs.utimes(lock(), at, at);
  }

  const here = async (pid: number): Promise<Record<string, unknown>> => ({
    pid,
    host: os.hostname(),
    pidNamespace: process.platform === 'linux' ? await fs.readlink('/proc/self/ns/pid') : null,
    since: Date.now(),
  });

  it('takes a lock whose holder pid is dead on this machine at once, whatever its mtime', async () => {
    await heldBy(await here(await deadPid()), 0);
    const started = Date.now();
    await open({ lockStaleMs: 60_000, lockTimeoutMs: 10_000 }).register('maya', TCP);
    expect(Date.now() - started).toBeLessThan(5_000); // not the 60 s stale timeout
    expect((await fs.readdir(dir)).sort()).toEqual(AFTER_REGISTER);
  });

  it('does not judge the pid of a holder on another host or in another pid namespace; their locks go stale as usual', async () => {
    const dead = await deadPid();
    for (const owner of [{ ...(await here(dead)), host: 'render-07' }, { ...(await here(dead)), pidNamespace: 'pid:[1]' }]) {
      await heldBy(owner, 0);
      await expect(open({ lockStaleMs: 60_000, lockTimeoutMs: 200 }).register('maya', TCP)).rejects.toThrow(/timed out/);
      const old = new Date(Date.now() - 120_000);
      await fs.utimes(lock(), old, old);
      await open({ lockStaleMs: 60_000, lockTimeoutMs: 10_000 }).register('maya', TCP);
      expect((await fs.readdir(dir)).sort()).toEqual(AFTER_REGISTER);
    }
  });

  it('waits for a live holder (our own pid here) until its lock goes stale', async () => {
    await heldBy(await here(process.pid), 0);
    await expect(open({ lockStaleMs: 60_000, lockTimeoutMs: 200 }).register('maya', TCP)).rejects.toThrow(/timed out/);
    const old = new Date(Date.now() - 120_000);
    await fs.utimes(lock(), old, old);
    await open({ lockStaleMs: 60_000, lockTimeoutMs: 10_000 }).register('maya', TCP);
    expect((await fs.readdir(dir)).sort()).toEqual(AFTER_REGISTER);
  });

  it('never removes a lock directory holding anything it does not know, stale or not', async () => {
    await heldBy({ note: 'not a record' }, 120_000, 'notes.txt');
    await expect(open({ lockStaleMs: 2_000, lockTimeoutMs: 200 }).register('maya', TCP)).rejects.toThrow(/timed out/);
    expect(await fs.readdir(lock())).toEqual(['notes.txt']);
  });

  it('a holder leaves its record in the lock while it holds it, and nothing after', async () => {
    const options = { staleMs: 10_000, timeoutMs: 1_000, onWarning: (m: string) => warnings.push(m) };
    const inside = await withFileLock(path.join(dir, 'services.json'), lock(), options, async () => {
      const names = await fs.readdir(lock());
      return { names, record: JSON.parse(await fs.readFile(path.join(lock(), names[0]!), 'utf8')) as unknown };
    });
    expect(inside.names).toEqual([expect.stringMatching(new RegExp(`^owner-${process.pid}-[0-9a-f]+\\.json$`))]);
    expect(inside.record).toEqual({ ...(await here(process.pid)), since: expect.any(Number) });
    expect(await fs.readdir(dir)).toEqual([]);
    expect(warnings).toEqual([]);
  });
});

describe('temp files of dead writers', () => {
  it('removes only write-file-atomic temp files of services.json older than the lock stale timeout', async () => {
    const reg = open({ lockStaleMs: 10_000 });
    await reg.register('maya', TCP);
    const old = new Date(Date.now() - 60_000);
    const files = {
      'services.json.123': 'dead', // write-file-atomic's name, old: removed
      'services.json.4294967295': 'dead',
      'services.json.77': 'fresh', // could be a live writer's that lost the lock: kept until it is old
      'services.json.corrupted-1700000000000': 'old',
      'services.json.bak': 'old',
      'services.json.12a': 'old',
      'services.json.12345678901': 'old', // 11 digits: not a 32-bit number
      '.tmp.4242.services.json': 'old', // dcc-mcp-core's, under its own lock
      'other.json.123': 'old',
    };
    for (const [name, kind] of Object.entries(files)) {
      await fs.writeFile(path.join(dir, name), kind);
      if (kind !== 'fresh') await fs.utimes(path.join(dir, name), old, old);
    }
    await fs.mkdir(path.join(dir, 'services.json.456')); // not a regular file
    await fs.utimes(path.join(dir, 'services.json.456'), old, old);

    await reg.heartbeat('maya', (await reg.listAll())[0]!.instanceId);
    const left = (await fs.readdir(dir)).sort();
    const expected = [...AFTER_REGISTER, 'services.json.456', ...Object.keys(files)].filter((n) => !['services.json.123', 'services.json.4294967295'].includes(n));
    expect(left).toEqual(expected.sort());
    expect(warnings).toEqual([]);
  });
});
