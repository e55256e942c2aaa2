/**
 * The exclusive lock around every read-modify-write of services.json: two locks, taken
 * in this order and released in the reverse one.
 *
 * 1. dcc-mcp-core's: flock (LockFileEx on Windows) on `services.lock`, see
 *    services-lock.ts. This is what excludes dcc-mcp-core's writers (and those of
 *    every wirecall that has it). Left out, with a warning from the registry, when the
 *    native lock module cannot be loaded.
 * 2. wirecall's older one: `services.json.lock`, a proper-lockfile mkdir lock. Kept on
 *    purpose: wirecall versions before services.lock take only this one, and a wirecall
 *    without the native module has nothing else; dropping it would let either of them
 *    write at the same moment as us. Taken second, it is uncontended among wirecalls
 *    that have both (the first lock already orders them), so it costs one mkdir and one
 *    rmdir per write. (It cannot be `services.lock` itself: a mkdir lock of that name
 *    would make dcc-mcp-core's open() fail with EISDIR.)
 *
 * About the mkdir lock: its holder refreshes the directory's mtime; a lock whose mtime
 * is older than `staleMs` belongs to a crashed holder and is taken over. The holder also
 * leaves its pid in the directory, so a holder that died is got past at once instead of
 * after staleMs (lock-owner.ts). We wait for it with jittered backoff up to a deadline,
 * never forever.
 *
 * Within one process: a promise chain per lock path, so this process never contends
 * with itself (proper-lockfile keeps one record per locked file per process, and a
 * second flock from this process would conflict with its first).
 */
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { RegistryFileError } from '../../errors.js';
import { errorMessage } from '../../util/error-message.js';
import { LockDirFs } from './lock-dir-fs.js';
import { isHeldError, removeIfAbandoned } from './lock-owner.js';
import { takeServicesLock, type ServicesLockOptions } from './services-lock.js';

export interface FileLockOptions {
  /** A lock not refreshed for this long is taken over (proper-lockfile's minimum is 2000). */
  staleMs: number;
  /** Give up waiting for the lock after this long. */
  timeoutMs: number;
  onWarning: (message: string) => void;
  /** dcc-mcp-core's lock on services.lock, taken first; absent without the native module. */
  services?: ServicesLockOptions;
}

const MAX_PAUSE_MS = 50;

/** How the lock was taken, for what `fn` should clean up. */
export interface LockTaken {
  /**
   * The lock was removed from a holder whose process had died (its pid gone) while
   * waiting for it: whatever that holder left half-done is garbage.
   */
  holderDied: boolean;
}

const chains = new Map<string, Promise<void>>();
const lockFs = new Map<string, LockDirFs>();

/** Runs `fn` while holding the lock `lockPath` that guards `target`. */
export function withFileLock<T>(
  target: string,
  lockPath: string,
  options: FileLockOptions,
  fn: (taken: LockTaken) => Promise<T>,
): Promise<T> {
  const key = path.resolve(lockPath);
  const previous = chains.get(key) ?? Promise.resolve();
  const run = previous.then(() => runLocked(target, key, options, fn));
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  chains.set(key, tail);
  void tail.then(() => {
    if (chains.get(key) === tail) chains.delete(key);
  });
  return run;
}

async function runLocked<T>(
  target: string,
  lockPath: string,
  options: FileLockOptions,
  fn: (taken: LockTaken) => Promise<T>,
): Promise<T> {
  const releaseServices = options.services === undefined ? undefined : await takeServicesLock(options.services);
  try {
    return await runMkdirLocked(target, lockPath, options, fn);
  } finally {
    await releaseServices?.().catch((err: unknown) =>
      options.onWarning(`could not release registry lock ${options.services!.path}: ${errorMessage(err)}`),
    );
  }
}

async function runMkdirLocked<T>(
  target: string,
  lockPath: string,
  options: FileLockOptions,
  fn: (taken: LockTaken) => Promise<T>,
): Promise<T> {
  let dirFs = lockFs.get(lockPath);
  if (dirFs === undefined) lockFs.set(lockPath, (dirFs = new LockDirFs(lockPath)));
  let lost: Error | undefined;
  const { release, taken } = await acquire(target, dirFs, options, (err) => {
    lost = err;
  });
  try {
    return await fn(taken);
  } finally {
    if (lost !== undefined) {
      // Only when we held it longer than staleMs (a blocked event loop): someone took it over.
      options.onWarning(`registry lock ${lockPath} was lost while held (${lost.message}); a concurrent write may have been overwritten`);
      await dirFs.forgetOwner();
    } else {
      await release().catch((err: unknown) => options.onWarning(`could not release registry lock ${lockPath}: ${errorMessage(err)}`));
    }
  }
}

async function acquire(
  target: string,
  dirFs: LockDirFs,
  options: FileLockOptions,
  onCompromised: (err: Error) => void,
): Promise<{ release: () => Promise<void>; taken: LockTaken }> {
  const lockPath = dirFs.lockPath;
  const deadline = Date.now() + options.timeoutMs;
  const taken: LockTaken = { holderDied: false };
  let pause = 2;
  for (;;) {
    dirFs.renew();
    try {
      const release = await lockfile.lock(target, {
        lockfilePath: lockPath,
        realpath: false, // services.json may not exist yet
        stale: options.staleMs,
        retries: 0, // we retry ourselves, against a deadline
        onCompromised, // the default throws from a timer, i.e. crashes the process
        fs: dirFs,
      });
      return { release, taken };
    } catch (err) {
      if (!isHeldError(err)) {
        throw new RegistryFileError(`cannot take the registry lock ${lockPath}: ${errorMessage(err)}`, { cause: err });
      }
      const abandoned = await removeIfAbandoned(lockPath, options.staleMs);
      if (abandoned !== undefined) {
        if (abandoned === 'dead') taken.holderDied = true;
        continue; // removed: try again at once
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new RegistryFileError(
          `timed out after ${options.timeoutMs} ms waiting for the registry lock ${lockPath} (held by another process)`,
          { cause: err },
        );
      }
      await sleep(Math.min(left, pause * (0.5 + Math.random())));
      pause = Math.min(pause * 2, MAX_PAUSE_MS);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
