/**
 * Who holds the registry lock, so that a waiter can tell a dead holder at once.
 *
 * proper-lockfile knows a lock only by its mtime: a lock is abandoned once it has not
 * been refreshed for staleMs. A holder that dies right after taking the lock leaves a
 * fresh mtime, so every dead holder in a row costs a waiter a whole staleMs, plus up to
 * 1 s because proper-lockfile's first lock in a process sets the mtime to the next whole
 * second. With the default 10 s, two dead holders in a row (one killed, the waiter that
 * took its lock over killed too) kept a live process waiting 21 s, and three passed the
 * 30 s lock timeout.
 *
 * So each holder leaves a record in the lock directory, `owner-<pid>-<nonce>.json`, made
 * between proper-lockfile's mkdir and its mtime probe (see LockDirFs): its pid, host name
 * and pid namespace. A waiter on the same machine whose kill(pid, 0) finds no such process
 * removes the lock at once. The mtime rule still applies to every lock, and is the only
 * one for a holder on another host or in another pid namespace (a container sharing the
 * directory: its pids mean nothing here), for a pid reused by a new process, and for
 * locks made by versions that leave no record.
 *
 * Removing is claim-then-rmdir: unlinking the record (its name is never reused) succeeds
 * for one waiter only, and rmdir removes only an empty directory, never a newer holder's
 * lock that already has its record. A newer holder whose empty directory was removed in
 * the instant before its record was written sees that (LockDirFs) and tries again.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { errorCode } from '../../util/error-code.js';
import { isPidAlive } from './liveness.js';

/** What a holder writes into the lock directory. */
export interface LockOwner {
  pid: number;
  host: string;
  /** Linux's `pid:[inode]` of the holder's pid namespace; null where there is none to read. */
  pidNamespace: string | null;
  /** When it took the lock (ms since the epoch), for people reading the directory. */
  since: number;
}

const OWNER_FILE = /^owner-\d+-[0-9a-f]+\.json$/;

/** A fresh record name: the pid for people, a nonce so that no name is ever used twice. */
export function newOwnerName(): string {
  return `owner-${process.pid}-${randomBytes(8).toString('hex')}.json`;
}

export function ownRecord(): LockOwner {
  return { pid: process.pid, host: os.hostname(), pidNamespace: pidNamespace(), since: Date.now() };
}

let namespace: string | null | undefined;

function pidNamespace(): string | null {
  if (namespace === undefined) {
    try {
      namespace = process.platform === 'linux' ? fs.readlinkSync('/proc/self/ns/pid') : null;
    } catch {
      namespace = null;
    }
  }
  return namespace;
}

/** How an abandoned lock was recognised. */
export type Abandoned = 'dead' | 'stale';

/**
 * Looks at a lock that is held and removes it if its holder is gone: its pid is dead on
 * this machine ('dead'), or the lock has not been refreshed for `staleMs` ('stale').
 * Returns how it was recognised once it is removed, else undefined (held by a live
 * holder, already being removed by another waiter, or not one we can judge: an empty
 * directory is left to proper-lockfile's mtime rule, anything unknown inside is left alone).
 */
export async function removeIfAbandoned(lockPath: string, staleMs: number): Promise<Abandoned | undefined> {
  let entries: string[];
  let mtimeMs: number;
  try {
    entries = await fsp.readdir(lockPath);
    mtimeMs = (await fsp.stat(lockPath)).mtimeMs;
  } catch {
    return undefined; // gone already (try again), or not a directory (not ours)
  }
  const [name] = entries;
  if (entries.length !== 1 || name === undefined || !OWNER_FILE.test(name)) return undefined;
  const record = path.join(lockPath, name);

  let how: Abandoned | undefined;
  if (mtimeMs < Date.now() - staleMs) how = 'stale';
  else if (isDead(await readOwner(record))) how = 'dead';
  if (how === undefined) return undefined;

  try {
    await fsp.unlink(record); // the claim: only one waiter succeeds
  } catch {
    return undefined; // another waiter claimed it
  }
  await fsp.rmdir(lockPath).catch(() => undefined); // ENOTEMPTY: a newer holder's record is in it
  return how;
}

async function readOwner(record: string): Promise<LockOwner | undefined> {
  try {
    const owner = JSON.parse(await fsp.readFile(record, 'utf8')) as Partial<LockOwner>;
    if (!Number.isSafeInteger(owner.pid) || typeof owner.host !== 'string') return undefined;
    return { pid: owner.pid!, host: owner.host, pidNamespace: owner.pidNamespace ?? null, since: Number(owner.since) };
  } catch {
    return undefined; // half-written, or removed meanwhile: judged by its mtime only
  }
}

/** Dead only when its pid is ours to judge and names no process; unknown means alive. */
function isDead(owner: LockOwner | undefined): boolean {
  if (owner === undefined) return false;
  if (owner.host !== os.hostname() || owner.pidNamespace !== pidNamespace()) return false;
  return !isPidAlive(owner.pid);
}

/** True when `err` is a mkdir/rmdir failure that means "someone else's lock is there". */
export function isHeldError(err: unknown): boolean {
  const code = errorCode(err);
  // proper-lockfile's stale removal of a directory that holds a record fails with ENOTEMPTY
  // (EEXIST on some systems): the lock is held as far as proper-lockfile can tell.
  return code === 'ELOCKED' || code === 'ENOTEMPTY' || code === 'EEXIST';
}
