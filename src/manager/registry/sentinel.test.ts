/**
 * Sentinel lock files (sentinel.ts) through the FileRegistry: ours are created, held
 * and removed with our rows; everyone's are judged before the pid. Other holders are
 * real processes: a Node child holding the lock through the native module.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ServiceAlreadyRegistered } from '../../errors.js';
import { buildIfStale } from '../../test-util/build.js';
import type { Endpoint } from '../../transport/endpoint.js';
import { deadPid, DIST_FILE_REGISTRY, readServicesJson } from '../../test-util/registry-files.js';
import { Scratch } from '../../test-util/scratch.js';
import { exited } from '../../test-util/wait.js';
import { FileRegistry } from './file-registry.js';
import { loadNativeLock, type NativeLock } from './native-lock.js';
import { toWireTimestamp } from './timestamp.js';

const TCP: Endpoint = { kind: 'tcp', host: '127.0.0.1', port: 18812 };
const scratch = new Scratch();
let dir: string;
let warnings: string[];
let native: NativeLock;

beforeAll(() => buildIfStale(), 120_000); // the children run the compiled build
beforeEach(async () => {
  dir = scratch.dir();
  warnings = [];
  native = (await loadNativeLock()) as NativeLock;
});
afterEach(() => scratch.cleanup());

const open = (): FileRegistry => new FileRegistry({ dir, onWarning: (m) => warnings.push(m) });

/** Can another open file take the lock on `file` right now? (Released at once.) */
function lockable(file: string): boolean {
  const fd = fs.openSync(file, 'r+');
  try {
    const got = native.tryLock(fd);
    if (got) native.unlock(fd);
    return got;
  } finally {
    fs.closeSync(fd);
  }
}

/** A dcc-mcp-core style row with a sentinel, heartbeat now. */
function row(instanceId: string, fields: Record<string, unknown>): Record<string, unknown> {
  const now = toWireTimestamp(Date.now());
  return { schema_version: 1, dcc_type: 'maya', instance_id: instanceId, host: '127.0.0.1', port: 1, registered_at: now, last_heartbeat: now, ...fields };
}

async function writeRows(rows: unknown[]): Promise<void> {
  await fs.promises.writeFile(path.join(dir, 'services.json'), JSON.stringify(rows));
}

/** A Node child that creates and holds the lock on `file` (as a dcc-mcp-core owner does); SIGKILL it to let go. */
async function holder(file: string): Promise<{ kill(): Promise<void> }> {
  const nativeModule = path.join(path.dirname(DIST_FILE_REGISTRY), 'native-lock.js');
  const code = `const { loadNativeLock } = await import(${JSON.stringify('file://' + nativeModule)});
    const fs = await import('node:fs'); const lock = await loadNativeLock();
    const fd = fs.openSync(process.argv[1], 'a+'); if (!lock.tryLock(fd)) process.exit(2);
    console.log('HELD'); setInterval(() => {}, 1000);`;
  const child = scratch.child(spawn(process.execPath, ['--input-type=module', '-e', code, file], { stdio: ['ignore', 'pipe', 'inherit'] }));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('HELD') && resolve());
    child.once('exit', (c) => reject(new Error(`holder exited with ${c}`)));
  });
  return {
    kill: async () => {
      child.kill('SIGKILL');
      await exited(child);
    },
  };
}

describe('our sentinels', () => {
  it('register() creates and holds locks/<dcc_type>-<instance_id>.lock, names it in the row; deregister() removes it', async () => {
    const reg = open();
    const entry = await reg.register('maya', TCP);
    const file = path.join(dir, 'locks', `maya-${entry.instanceId}.lock`);
    expect(entry.sentinelPath).toBe(file);
    expect((await readServicesJson(dir))[0]).toMatchObject({ pid: process.pid, sentinel_path: file });
    expect(Object.keys((await readServicesJson(dir))[0]!).slice(8, 10)).toEqual(['pid', 'sentinel_path']); // dcc-mcp-core's order
    expect(lockable(file)).toBe(false); // held, even against a second open in this very process
    expect((await reg.listWithLiveness())[0]!.liveness).toBe('live'); // our own: not fooled by our own lock

    expect(await reg.deregister('maya', entry.instanceId)).toBe(true);
    expect(fs.existsSync(file)).toBe(false);
    expect(warnings).toEqual([]);
  });

  it('a second registration of a live id fails and leaves the first one its sentinel; after deregister the id can come back', async () => {
    const reg = open();
    const entry = await reg.register('maya', TCP);
    await expect(reg.register('maya', TCP, { instanceId: entry.instanceId })).rejects.toThrow(ServiceAlreadyRegistered);
    expect(lockable(entry.sentinelPath!)).toBe(false);
    await reg.deregister('maya', entry.instanceId);
    const again = await reg.register('maya', TCP, { instanceId: entry.instanceId });
    expect(again.sentinelPath).toBe(entry.sentinelPath);
    expect(lockable(again.sentinelPath!)).toBe(false);
  });

  it('registering an id whose sentinel another process holds fails with ServiceAlreadyRegistered', async () => {
    const id = '11111111-2222-4333-8444-555555555555';
    const file = path.join(dir, 'locks', `maya-${id}.lock`);
    fs.mkdirSync(path.dirname(file));
    const other = await holder(file);
    await expect(open().register('maya', TCP, { instanceId: id })).rejects.toThrow(/sentinel .* is held/);
    await other.kill();
    await open().register('maya', TCP, { instanceId: id }); // free now: taken over
  });

  it('rows registered for another pid get no sentinel', async () => {
    const entry = await open().register('maya', TCP, { pid: process.ppid });
    expect(entry.sentinelPath).toBeUndefined();
    expect((await readServicesJson(dir))[0]).not.toHaveProperty('sentinel_path');
    expect(fs.existsSync(path.join(dir, 'locks'))).toBe(false);
  });

  it('a process that exits without deregistering leaves no sentinel file; its row is then judged by its pid', async () => {
    const code = `const { FileRegistry } = await import(${JSON.stringify('file://' + DIST_FILE_REGISTRY)});
      const e = await new FileRegistry({ dir: process.argv[1] }).register('maya', { kind: 'tcp', host: '127.0.0.1', port: 1 });
      console.log(e.sentinelPath); process.exit(0);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    expect((await exited(child)).code).toBe(0);
    expect(out.trim()).toMatch(/locks\/maya-.*\.lock$/);
    expect(fs.existsSync(out.trim())).toBe(false);
    expect((await open().listWithLiveness()).map((r) => r.liveness)).toEqual(['dead']);
  });
});

describe("everyone's sentinels", () => {
  it('held → live, even with a dead pid; free → dead, even with a live pid; prune removes the row and the free file', async () => {
    const heldFile = path.join(dir, 'locks', 'maya-held.lock');
    const freeFile = path.join(dir, 'locks', 'maya-free.lock');
    fs.mkdirSync(path.dirname(heldFile));
    fs.writeFileSync(freeFile, '');
    const other = await holder(heldFile);
    await writeRows([
      row('held', { pid: await deadPid(), sentinel_path: heldFile }),
      row('free', { pid: process.pid, sentinel_path: freeFile }),
    ]);
    const reg = open();
    expect((await reg.listWithLiveness()).map((r) => [r.entry.instanceId, r.liveness])).toEqual([
      ['held', 'live'],
      ['free', 'dead'],
    ]);
    expect(await reg.prune()).toBe(1);
    expect((await readServicesJson(dir)).map((r) => r['instance_id'])).toEqual(['held']);
    expect(fs.existsSync(freeFile)).toBe(false);
    expect(fs.existsSync(heldFile)).toBe(true);

    await other.kill(); // its owner dies: now it can be locked
    expect(await reg.prune()).toBe(1);
    expect(await readServicesJson(dir)).toEqual([]);
  });

  it('a missing sentinel falls back to the pid; a stale heartbeat is stale whatever the sentinel', async () => {
    const gone = path.join(dir, 'locks', 'nothing-here.lock');
    const heldFile = path.join(dir, 'held.lock');
    const other = await holder(heldFile);
    const old = toWireTimestamp(Date.now() - 60_000);
    await writeRows([
      row('alive-pid', { pid: process.pid, sentinel_path: gone }),
      row('dead-pid', { pid: await deadPid(), sentinel_path: gone }),
      row('stale', { pid: process.pid, sentinel_path: heldFile, last_heartbeat: old, registered_at: old }),
    ]);
    const judged = (await open().listWithLiveness()).map((r) => [r.entry.instanceId, r.liveness]);
    expect(judged).toEqual([
      ['alive-pid', 'live'],
      ['dead-pid', 'dead'],
      ['stale', 'stale'],
    ]);
    await other.kill();
  });

  it('never judges sentinels of rows on other hosts, nor removes files outside locks/', async () => {
    const outside = path.join(dir, 'not-a-sentinel.lock');
    fs.writeFileSync(outside, 'keep me');
    await writeRows([
      row('remote', { host: 'render-07', pid: 1, sentinel_path: outside }),
      row('local', { pid: process.pid, sentinel_path: outside }),
    ]);
    const reg = open();
    expect((await reg.listWithLiveness()).map((r) => r.liveness)).toEqual(['live', 'dead']);
    expect(await reg.prune()).toBe(1);
    expect(fs.readFileSync(outside, 'utf8')).toBe('keep me');
  });
});
