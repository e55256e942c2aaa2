/**
 * The OS file lock dcc-mcp-core takes, which Node cannot take by itself: flock(2) on
 * Unix, LockFileEx on byte 0 (length 1) on Windows, what Python's
 * `msvcrt.locking(fd, LK_LOCK, 1)` and dcc-mcp-core's Rust "first-byte lock" take.
 * An fcntl/POSIX or OFD lock would not do: on Linux those and flock do not see each
 * other at all.
 *
 * It comes from the native module fs-ext-extra-prebuilt (an optional dependency; its
 * binaries are in the package, so a plain `npm install` works with install scripts
 * blocked; the choice is in docs/MANAGER.md). It is imported lazily, by the file
 * registry only, so `import 'wirecall'` never loads it. Where it cannot be loaded (no
 * binary for this platform or Node version, or installed with --omit=optional) the
 * loader answers with the reason, and the registry carries on without it (see
 * file-registry.ts): it then excludes other wirecall processes only.
 *
 * Both locks belong to an open file (an open file description on Unix, a handle on
 * Windows), not to a process: a second open() of the same file in this very process
 * conflicts with the first, so a process probing its own sentinel sees it held.
 */
import { errorCode } from '../../util/error-code.js';
import { errorMessage } from '../../util/error-message.js';

export interface NativeLock {
  /** Takes the exclusive lock on `fd` without waiting: false if another open file holds it. Throws on other errors. */
  tryLock(fd: number): boolean;
  /** Releases it (closing the fd releases it too). */
  unlock(fd: number): void;
}

/** What the module exports that we use (its own .d.ts describes more). */
interface FsExt {
  flockSync(fd: number, flags: 'exnb' | 'un'): number;
  lockFileExSync(fd: number, flags: number, offsetLow: number, offsetHigh: number, lengthLow: number, lengthHigh: number): number;
  unlockFileExSync(fd: number, offsetLow: number, offsetHigh: number, lengthLow: number, lengthHigh: number): number;
  constants: { LOCKFILE_EXCLUSIVE_LOCK: number; LOCKFILE_FAIL_IMMEDIATELY: number };
}

export const NATIVE_LOCK_MODULE = 'fs-ext-extra-prebuilt';

/** errno codes meaning "another open file holds the lock". */
const HELD_CODES = new Set(['EAGAIN', 'EWOULDBLOCK', 'EACCES']);

let loading: Promise<NativeLock | Error> | undefined;

/** The lock, loaded once per process; an Error (never thrown) says why it is not available. */
export function loadNativeLock(): Promise<NativeLock | Error> {
  loading ??= load();
  return loading;
}

async function load(): Promise<NativeLock | Error> {
  let ext: FsExt;
  try {
    // A variable, so that TypeScript does not need the optional module to compile.
    const name: string = NATIVE_LOCK_MODULE;
    const mod = (await import(name)) as { default?: FsExt } & Partial<FsExt>;
    ext = (mod.default ?? mod) as FsExt;
  } catch (err) {
    return new Error(`the native lock module ${NATIVE_LOCK_MODULE} could not be loaded: ${errorMessage(err)}`, { cause: err });
  }
  if (typeof ext.flockSync !== 'function') return new Error(`the native lock module ${NATIVE_LOCK_MODULE} could not be loaded: it has no flockSync`);
  return process.platform === 'win32' ? windowsLock(ext) : unixLock(ext);
}

function unixLock(ext: FsExt): NativeLock {
  return {
    tryLock(fd) {
      try {
        ext.flockSync(fd, 'exnb');
        return true;
      } catch (err) {
        if (HELD_CODES.has(errorCode(err) ?? '')) return false;
        throw err;
      }
    },
    unlock(fd) {
      ext.flockSync(fd, 'un');
    },
  };
}

function windowsLock(ext: FsExt): NativeLock {
  const flags = ext.constants.LOCKFILE_EXCLUSIVE_LOCK | ext.constants.LOCKFILE_FAIL_IMMEDIATELY;
  return {
    tryLock(fd) {
      try {
        ext.lockFileExSync(fd, flags, 0, 0, 1, 0); // byte 0, length 1
        return true;
      } catch (err) {
        if (HELD_CODES.has(errorCode(err) ?? '')) return false;
        throw err;
      }
    },
    unlock(fd) {
      ext.unlockFileExSync(fd, 0, 0, 1, 0);
    },
  };
}
