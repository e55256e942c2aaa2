/**
 * The file registry where the native lock module cannot be loaded (no binary for this
 * platform or Node version, or installed with --omit=optional): it still works, with
 * one warning, excluding other wirecall processes only (services.json.lock), and its
 * rows have no sentinel.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { readServicesJson } from '../../test-util/registry-files.js';
import { Scratch } from '../../test-util/scratch.js';
import { FileRegistry } from './file-registry.js';

vi.mock('./native-lock.js', () => ({
  loadNativeLock: () => Promise.resolve(new Error('the native lock module fs-ext-extra-prebuilt could not be loaded: no binary (test)')),
}));

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

it('works without it: one warning, no services.lock, no sentinel; sentinels of other rows judged by pid', async () => {
  const dir = scratch.dir();
  const warnings: string[] = [];
  const reg = new FileRegistry({ dir, onWarning: (m) => warnings.push(m) });
  const entry = await reg.register('maya', { kind: 'tcp', host: '127.0.0.1', port: 18812 });
  await reg.heartbeat('maya', entry.instanceId);
  expect(entry.sentinelPath).toBeUndefined();
  expect((await readServicesJson(dir))[0]).not.toHaveProperty('sentinel_path');
  expect((await fs.readdir(dir)).sort()).toEqual(['services.json']);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(/could not be loaded.*excludes other wirecall processes only/);

  // A row naming a sentinel nobody holds, with a live pid: judged by the pid, so live.
  const rows = await readServicesJson(dir);
  const free = path.join(dir, 'free.lock');
  await fs.writeFile(free, '');
  await fs.writeFile(path.join(dir, 'services.json'), JSON.stringify([{ ...rows[0], sentinel_path: free }]));
  expect((await reg.listWithLiveness()).map((r) => r.liveness)).toEqual(['live']);
  expect(await reg.deregister('maya', entry.instanceId)).toBe(true);
  expect(warnings).toHaveLength(1);
});
