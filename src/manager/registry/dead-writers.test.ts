/**
 * Processes that die holding the registry lock, or half-way through writing services.json:
 * real children (fixtures/lock-holder.mjs, running the compiled build) SIGKILLed at
 * those points, as a crashed or killed DCC process dies.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildIfStale } from '../../test-util/build.js';
import type { Endpoint } from '../../transport/endpoint.js';
import { FileRegistry } from './file-registry.js';
import { readServicesJson, startLockHolder, type LockHolder } from '../../test-util/registry-files.js';
import { Scratch } from '../../test-util/scratch.js';

/** proper-lockfile's minimum; the children use it too. */
const STALE_MS = 2_000;
/**
 * A chain of dead holders must be got past within about one stale timeout in all.
 * Without the holders' pids it costs at least STALE_MS per dead holder (each one's lock
 * looks fresh until then), so 2 dead holders take >= 2 × STALE_MS: the bound tells the two apart.
 */
const CHAIN_BOUND_MS = STALE_MS + 1_000;

const TCP: Endpoint = { kind: 'tcp', host: '127.0.0.1', port: 18812 };
const UNIX: Endpoint = { kind: 'unix', path: '/tmp/dcc-mcp/maya-1.sock' };

const scratch = new Scratch();
const holders: LockHolder[] = [];
afterEach(async () => {
  await Promise.all(holders.splice(0).map((h) => h.kill()));
  await scratch.cleanup();
});

beforeAll(() => buildIfStale(), 120_000);

function holder(dir: string, mode: 'hold' | 'write'): LockHolder {
  const h = startLockHolder(dir, STALE_MS, mode);
  holders.push(h);
  return h;
}

function open(dir: string, warnings: string[]): FileRegistry {
  return new FileRegistry({ dir, lockStaleMs: STALE_MS, lockTimeoutMs: 20_000, onWarning: (m) => warnings.push(m) });
}

/**
 * `dead` holders take the lock one after another and are SIGKILLed as soon as they have
 * it; then a live process (this one) waits for it. Returns ms from the first kill until
 * the live process has written. Every waiter is started before the first kill, so the
 * time is spent getting past dead holders, not starting processes.
 */
async function passChain(dir: string, dead: number, warnings: string[]): Promise<number> {
  const first = holder(dir, 'hold');
  await first.line('locked');
  const waiting = Array.from({ length: dead - 1 }, () => holder(dir, 'hold'));
  await Promise.all(waiting.map((h) => h.line('started')));

  const start = performance.now();
  let current = first;
  for (;;) {
    if (waiting.length === 0) {
      // The last dead holder has it: the live process starts waiting, then the holder dies.
      const written = open(dir, warnings).register('maya', TCP);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await current.kill();
      await written;
      return performance.now() - start;
    }
    await current.kill();
    // Whichever waiter takes the lock next is the next to die.
    current = await Promise.race(waiting.map((h) => h.line('locked').then(() => h)));
    waiting.splice(waiting.indexOf(current), 1);
  }
}

describe('dead lock holders', () => {
  it.each([2, 3])(`a chain of %i SIGKILLed holders is got past within ${CHAIN_BOUND_MS} ms`, async (dead) => {
    const dir = scratch.dir();
    const warnings: string[] = [];
    const ms = await passChain(dir, dead, warnings);
    console.log(`chain of ${dead} dead holders passed in ${Math.round(ms)} ms (staleMs ${STALE_MS})`);
    expect(ms).toBeLessThan(CHAIN_BOUND_MS);
    expect(warnings).toEqual([]);
    expect(await readServicesJson(dir)).toHaveLength(1);
    expect((await fs.readdir(dir)).sort()).toEqual(['locks', 'services.json', 'services.lock']);
  });

  it('a live holder keeps the lock: a waiter times out rather than take it', async () => {
    const dir = scratch.dir();
    const live = holder(dir, 'hold');
    await live.line('locked');
    const warnings: string[] = [];
    const reg = new FileRegistry({ dir, lockStaleMs: STALE_MS, lockTimeoutMs: STALE_MS + 1_000, onWarning: (m) => warnings.push(m) });
    await expect(reg.register('maya', TCP)).rejects.toThrow(/timed out after 3000 ms waiting for the registry lock/);
    await live.kill();
    await reg.register('maya', TCP);
    expect(warnings).toEqual([]);
  });
});

describe('dead writers', () => {
  it('a writer SIGKILLed mid-write leaves no temp file after the next write', async () => {
    const dir = scratch.dir();
    const warnings: string[] = [];
    const reg = open(dir, warnings);
    await reg.register('maya', TCP);

    const writer = holder(dir, 'write');
    const tmp = (await writer.line('writing ')).slice('writing '.length);
    expect(path.dirname(tmp)).toBe(dir);
    expect(path.basename(tmp)).toMatch(/^services\.json\.\d+$/);
    await fs.access(tmp);
    await writer.kill();
    await fs.access(tmp); // SIGKILL runs no exit handler: write-file-atomic could not remove it

    await reg.register('maya', UNIX);
    expect((await fs.readdir(dir)).sort()).toEqual(['locks', 'services.json', 'services.lock']);
    expect(await readServicesJson(dir)).toHaveLength(2);
    expect(warnings).toEqual([]);
  });
});
