/**
 * The fs that proper-lockfile uses for one lock path: node:fs, except that taking the
 * lock also writes this process's owner record into the new directory (lock-owner.ts),
 * and removing the lock removes that record first (rmdir needs an empty directory).
 *
 * The record is written inside mkdir, before proper-lockfile probes the directory's
 * mtime: adding a file changes a directory's mtime, and a holder that finds a mtime it
 * did not set believes its lock was taken over.
 *
 * One object per lock path for the whole process (withFileLock takes a path's lock one
 * at a time), so proper-lockfile's mtime-precision probe, which is cached on the fs
 * object and sets the mtime up to 1 s ahead, runs once per process, not per lock.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { errorCode } from '../../util/error-code.js';
import { newOwnerName, ownRecord } from './lock-owner.js';

type Callback = (err: NodeJS.ErrnoException | null) => void;

export class LockDirFs {
  private owner = newOwnerName();

  constructor(readonly lockPath: string) {}

  /** A fresh record name for the next attempt: a name is never written twice. */
  renew(): void {
    this.owner = newOwnerName();
  }

  /** Removes our record if it is still there (the lock was lost while held: see file-lock.ts). */
  async forgetOwner(): Promise<void> {
    await fsp.unlink(path.join(this.lockPath, this.owner)).catch(() => undefined);
  }

  mkdir(dir: string, callback: Callback): void {
    fs.mkdir(dir, (err) => {
      if (err !== null || dir !== this.lockPath) return callback(err);
      this.writeOwner().then(
        () => callback(null),
        (e: NodeJS.ErrnoException) => callback(e),
      );
    });
  }

  rmdir(dir: string, callback: Callback): void {
    if (dir !== this.lockPath) return fs.rmdir(dir, callback);
    // Only our own record: a stale lock of someone else keeps theirs, and stays (ENOTEMPTY).
    fs.unlink(path.join(dir, this.owner), () => fs.rmdir(dir, callback));
  }

  /** proper-lockfile's exit handler releases held locks with this. */
  rmdirSync(dir: string): void {
    if (dir === this.lockPath) {
      try {
        fs.unlinkSync(path.join(dir, this.owner));
      } catch {
        // not there
      }
    }
    fs.rmdirSync(dir);
  }

  stat(file: string, callback: (err: NodeJS.ErrnoException | null, stats: fs.Stats) => void): void {
    fs.stat(file, callback);
  }

  utimes(file: string, atime: Date, mtime: Date, callback: Callback): void {
    fs.utimes(file, atime, mtime, callback);
  }

  realpath(file: string, callback: (err: NodeJS.ErrnoException | null, resolved: string) => void): void {
    fs.realpath(file, callback);
  }

  /**
   * Our record, made with O_EXCL in the directory we just made. If that directory was
   * removed in the instant between (a waiter that claimed an abandoned lock, see
   * lock-owner.ts, removes the empty directory it finds), or another process's record is
   * in it too, this attempt did not get the lock: ELOCKED, and withFileLock tries again.
   */
  private async writeOwner(): Promise<void> {
    const record = path.join(this.lockPath, this.owner);
    try {
      await fsp.writeFile(record, JSON.stringify(ownRecord()), { flag: 'wx' });
    } catch (err) {
      if (errorCode(err) === 'ENOENT') throw held(this.lockPath);
      await fsp.rmdir(this.lockPath).catch(() => undefined); // ours, and empty
      throw err;
    }
    const entries = await fsp.readdir(this.lockPath).catch(() => []);
    if (entries.length !== 1 || entries[0] !== this.owner) {
      await fsp.unlink(record).catch(() => undefined);
      throw held(this.lockPath);
    }
  }
}

function held(lockPath: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${lockPath} was taken by another process while we made it`), { code: 'ELOCKED' });
}
