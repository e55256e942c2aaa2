/**
 * Sentinel lock files, dcc-mcp-core's proof of life: the process that registers a row
 * creates `<dir>/locks/<dcc_type>-<instance_id>.lock`, holds an exclusive lock on it
 * (native-lock.ts) for as long as the row is registered, and names it in the row's
 * `sentinel_path`. Whoever can take that lock knows the owner is dead, whatever its
 * heartbeat or pid say (the OS drops the lock of a process that dies, even by SIGKILL).
 *
 * Held sentinels are process-wide (a Map of path → fd), not per FileRegistry: a row is
 * owned by this process, and any registry object of this process may deregister it.
 * A process probing a sentinel it holds itself answers 'held' from the Map without
 * opening it (a second open would conflict with our own lock anyway, see native-lock.ts).
 * On exit the files are removed (the OS drops the locks); after SIGKILL they stay,
 * unlocked, and the next pruner removes them (removeDeadSentinel).
 *
 * Everything here is synchronous on purpose: probing runs inside the (synchronous)
 * liveness judgement of each row, and holding checks and fills the Map with no await
 * in between, so two registrations in this process cannot both think they hold a file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { errorCode } from '../../util/error-code.js';
import type { NativeLock } from './native-lock.js';

export const LOCKS_DIR = 'locks';

/** 'held': someone holds it (the owner lives); 'free': we could take it (the owner is dead); 'missing'; 'unknown': not ours to judge. */
export type SentinelState = 'held' | 'free' | 'missing' | 'unknown';

const held = new Map<string, number>();
let exitHook = false;

const { O_RDWR, O_CREAT } = fs.constants;
/** Never follow a symlink a row points at, never block on a FIFO (Unix only; 0 elsewhere). */
const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0;

/** dcc-mcp-core's name for the sentinel of a row; characters unsafe in a file name become '_'. */
export function sentinelPathFor(dir: string, dccType: string, instanceId: string): string {
  const safe = (s: string): string => s.replace(/[^A-Za-z0-9._-]/g, '_');
  return path.join(dir, LOCKS_DIR, `${safe(dccType)}-${safe(instanceId)}.lock`);
}

/** True when this process holds the sentinel `file`. */
export function holdsSentinel(file: string): boolean {
  return held.has(path.resolve(file));
}

/** Is the owner of this sentinel alive? Opens the file, tries the lock, releases it at once. */
export function probeSentinel(lock: NativeLock, file: string): SentinelState {
  if (!path.isAbsolute(file)) return 'unknown';
  if (held.has(path.resolve(file))) return 'held';
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDWR | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    return errorCode(err) === 'ENOENT' ? 'missing' : 'unknown';
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return 'unknown';
    if (!lock.tryLock(fd)) return 'held';
    lock.unlock(fd);
    return 'free';
  } catch {
    return 'unknown';
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Creates and locks the sentinel `file` for this process. 'new': locked now; 'ours':
 * this process already held it (a re-registration); 'busy': another process holds it.
 */
export function holdSentinel(lock: NativeLock, file: string): 'new' | 'ours' | 'busy' {
  const key = path.resolve(file);
  if (held.has(key)) return 'ours';
  fs.mkdirSync(path.dirname(key), { recursive: true, mode: 0o755 });
  for (let attempt = 0; attempt < 5; attempt++) {
    const fd = fs.openSync(key, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o644);
    let locked = false;
    try {
      locked = lock.tryLock(fd);
      // A pruner unlinks a dead sentinel while it holds its lock: if it did so between
      // our open and our lock, we locked a file that has no name any more. Try again.
      if (locked && sameFile(fd, key)) {
        held.set(key, fd);
        installExitHook();
        return 'new';
      }
      if (locked) lock.unlock(fd);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    fs.closeSync(fd);
    if (!locked) return 'busy';
  }
  return 'busy';
}

/** Gives up a sentinel this process holds: removes the file, then drops the lock. No-op if not held. */
export function releaseSentinel(lock: NativeLock | undefined, file: string): void {
  const key = path.resolve(file);
  const fd = held.get(key);
  if (fd === undefined) return;
  held.delete(key);
  try {
    fs.unlinkSync(key); // first: a prober that finds no file falls back to the pid, still ours
  } catch {
    // already gone
  }
  try {
    lock?.unlock(fd);
  } catch {
    // closing releases it too
  }
  fs.closeSync(fd);
}

/**
 * Removes a sentinel whose owner is dead, if it is still free: under its lock, and only
 * while the path still names the file we locked, so a new owner's file is never removed.
 */
export function removeDeadSentinel(lock: NativeLock, file: string): void {
  if (held.has(path.resolve(file))) return;
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDWR | O_NOFOLLOW | O_NONBLOCK);
  } catch {
    return;
  }
  try {
    if (!fs.fstatSync(fd).isFile() || !lock.tryLock(fd)) return;
    if (sameFile(fd, file)) fs.unlinkSync(file);
    lock.unlock(fd);
  } catch {
    // left for the next pruner
  } finally {
    fs.closeSync(fd);
  }
}

function sameFile(fd: number, file: string): boolean {
  try {
    const a = fs.fstatSync(fd);
    const b = fs.statSync(file);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const file of held.keys()) {
      try {
        fs.unlinkSync(file);
      } catch {
        // gone already
      }
    }
  });
}
