/**
 * services.lock excludes a real flock(2) holder of another process: Python's
 * `fcntl.flock`, what dcc-mcp-core's Python helper takes (its Rust side takes the same
 * lock). Runs wherever python3 is (the interop setup needs it anyway); skipped with one
 * line elsewhere, failed with CI=true.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RegistryFileError } from '../../errors.js';
import { ROOT, buildIfStale } from '../../test-util/build.js';
import { Scratch } from '../../test-util/scratch.js';
import { FileRegistry } from './file-registry.js';
import { withFileLock } from './file-lock.js';
import { loadNativeLock, type NativeLock } from './native-lock.js';
import { lockTimingFromEnv } from './services-lock.js';

const PYTHON = process.env.PYTHON ?? 'python3';
const hasPython = spawnSync(PYTHON, ['-c', 'import fcntl'], { stdio: 'ignore' }).status === 0;
const inCI = process.env.CI === 'true';
if (!hasPython && !inCI) process.stderr.write('services.lock against fcntl.flock: no python3 with fcntl, skipped\n');

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

/** A Python process holding `fcntl.flock(LOCK_EX)` on `file`; prints LOCKED, releases when stdin closes. */
async function pythonHolder(file: string): Promise<{ release(): void; exited: Promise<void> }> {
  const code =
    'import fcntl, sys\nf = open(sys.argv[1], "a+b")\nfcntl.flock(f.fileno(), fcntl.LOCK_EX)\n' +
    'print("LOCKED", flush=True)\nsys.stdin.read()\nfcntl.flock(f.fileno(), fcntl.LOCK_UN)\nprint("RELEASED", flush=True)';
  const child = scratch.child(spawn(PYTHON, ['-c', code, file], { stdio: ['pipe', 'pipe', 'inherit'] }));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('LOCKED')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`python holder exited with ${code}`)));
  });
  return { release: () => child.stdin.end(), exited: new Promise((resolve) => child.once('exit', () => resolve())) };
}

/** Can a Python process take the lock right now (LOCK_NB)? */
function pythonCanLock(file: string): boolean {
  const code =
    'import fcntl, sys\nf = open(sys.argv[1], "a+b")\ntry:\n    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)\n' +
    '    print("FREE")\nexcept BlockingIOError:\n    print("HELD")';
  const out = spawnSync(PYTHON, ['-c', code, file], { encoding: 'utf8', timeout: 10_000 });
  if (out.status !== 0) throw new Error(`python probe failed: ${out.stderr}`);
  return out.stdout.trim() === 'FREE';
}

describe.runIf(hasPython || inCI)('services.lock and a Python fcntl.flock holder', () => {
  it('a wirecall writer waits while Python holds services.lock, and writes once it lets go', async () => {
    const dir = scratch.dir();
    const lockFile = path.join(dir, 'services.lock');
    const holder = await pythonHolder(lockFile);
    const reg = new FileRegistry({ dir, onWarning: (m) => expect.fail(m) });
    let done = false;
    const writing = reg.register('maya', { kind: 'tcp', host: '127.0.0.1', port: 18812 }).then((e) => ((done = true), e));
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(done).toBe(false);
    expect(fs.existsSync(path.join(dir, 'services.json'))).toBe(false);
    const released = Date.now();
    holder.release();
    const entry = await writing;
    expect(Date.now() - released).toBeLessThan(1_000); // polled every 10 ms, not stuck
    expect((await reg.listAll()).map((e) => e.instanceId)).toEqual([entry.instanceId]);
    await holder.exited;
  });

  it('gives up with RegistryFileError after the timeout while Python holds it', async () => {
    const dir = scratch.dir();
    const holder = await pythonHolder(path.join(dir, 'services.lock'));
    const reg = new FileRegistry({ dir, lockTimeoutMs: 300, onWarning: (m) => expect.fail(m) });
    const started = Date.now();
    const failure = reg.register('maya', { kind: 'tcp', host: '127.0.0.1', port: 1 });
    await expect(failure).rejects.toThrow(RegistryFileError);
    await expect(failure).rejects.toThrow(/timed out after 300 ms waiting for the registry lock .*services\.lock \(held by another process\)/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(await reg.listAll()).toEqual([]); // reads take no lock
    holder.release();
    await holder.exited;
  });

  it('Python cannot take services.lock while a wirecall write holds it', async () => {
    const dir = scratch.dir();
    const lockFile = path.join(dir, 'services.lock');
    const reg = new FileRegistry({ dir }); // loads the native lock
    await reg.listAll();
    const native = (await loadNativeLock()) as NativeLock;
    const inside = await withFileLock(
      path.join(dir, 'services.json'),
      path.join(dir, 'services.json.lock'),
      { staleMs: 10_000, timeoutMs: 1_000, onWarning: (m) => expect.fail(m), services: { lock: native, path: lockFile, timeoutMs: 1_000, backoffMs: 10 } },
      async () => pythonCanLock(lockFile),
    );
    expect(inside).toBe(false);
    expect(pythonCanLock(lockFile)).toBe(true);
  });
});

describe('the native lock', () => {
  beforeAll(buildIfStale, 120_000);

  it("is loaded by the registry's first operation only: never by import 'wirecall' or 'wirecall/manager'", async () => {
    const code = `import { createRequire } from 'node:module';
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('fs-ext-extra-prebuilt'));
      await import('wirecall'); const a = loaded();
      const { FileRegistry } = await import('wirecall/manager'); const b = loaded();
      await new FileRegistry({ dir: process.argv[1] }).listAll(); console.log(JSON.stringify([a, b, loaded()]));`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--input-type=module', '-e', code, scratch.dir()], { cwd: ROOT, timeout: 20_000 }, (err, stdout, stderr) =>
        err === null ? resolve(stdout) : reject(new Error(`${err.message}\n${stderr}`)),
      ),
    );
    expect(JSON.parse(out)).toEqual([false, false, true]);
  });

  it('loads, and a second open of the same file in this process conflicts with the first (flock is per open file)', async () => {
    const native = await loadNativeLock();
    expect(native).not.toBeInstanceOf(Error);
    const lock = native as NativeLock;
    const file = path.join(scratch.dir(), 'x.lock');
    const a = fs.openSync(file, 'a+');
    const b = fs.openSync(file, 'a+');
    try {
      expect(lock.tryLock(a)).toBe(true);
      expect(lock.tryLock(b)).toBe(false);
      lock.unlock(a);
      expect(lock.tryLock(b)).toBe(true);
    } finally {
      fs.closeSync(a);
      fs.closeSync(b);
    }
  });

  it("reads dcc-mcp-core's timing variables, keeping the defaults for unusable values", () => {
    expect(lockTimingFromEnv({})).toEqual({ timeoutMs: 2_000, backoffMs: 10 });
    expect(lockTimingFromEnv({ DCC_MCP_REGISTRY_LOCK_TIMEOUT_MS: '5000', DCC_MCP_REGISTRY_LOCK_BACKOFF_MS: '25' })).toEqual({
      timeoutMs: 5_000,
      backoffMs: 25,
    });
    for (const bad of ['', '0', '-5', '1.5', 'soon']) {
      expect(lockTimingFromEnv({ DCC_MCP_REGISTRY_LOCK_TIMEOUT_MS: bad, DCC_MCP_REGISTRY_LOCK_BACKOFF_MS: bad })).toEqual({ timeoutMs: 2_000, backoffMs: 10 });
    }
  });
});
