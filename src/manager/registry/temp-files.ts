/**
 * Temp files that dead writers left beside services.json.
 *
 * write-file-atomic writes `<file>.<n>` and renames it over the file, where n is the
 * first 4 bytes, in decimal, of a SHA-1 of its own path, the pid, the thread id and a
 * counter (getTmpname in write-file-atomic/lib/index.js): the name does not tell whose
 * it is. The writer removes it itself when a write fails and when the process exits,
 * but a SIGKILLed writer (or a power cut) leaves it for ever.
 *
 * Only lock holders write, so under the lock a temp file belongs to a holder that is
 * gone, or to one that lost the lock (stalled for over staleMs) and has not noticed yet.
 * Removed: those older than staleMs, and all of them when our lock was taken from a
 * holder that died (lock-owner.ts), as a writer killed mid-write leaves a fresh one.
 * Nothing else: no other name, nothing that is not a regular file, no temp file of
 * another writer (dcc-mcp-core writes `.tmp.<pid>.services.json`, under its own lock).
 * A services.json that is a symlink gets its temp files beside its target; those are not looked for.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { errorCode } from '../../util/error-code.js';
import { errorMessage } from '../../util/error-message.js';

/** write-file-atomic's temp names for `file`: the name, a dot, a 32-bit unsigned integer. */
export function tempFilePattern(file: string): RegExp {
  const name = path.basename(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${name}\\.\\d{1,10}$`);
}

/**
 * Removes the temp files of `file` last modified at or before `cutoffMs` (ms since the
 * epoch; Infinity for all of them). Call it under the lock. Never throws: a failure is
 * reported to `onWarning` and the write goes on. Returns the names removed.
 */
export async function removeDeadTempFiles(file: string, cutoffMs: number, onWarning: (message: string) => void): Promise<string[]> {
  const dir = path.dirname(file);
  const pattern = tempFilePattern(file);
  const removed: string[] = [];
  try {
    for (const name of await fsp.readdir(dir)) {
      if (!pattern.test(name)) continue;
      const temp = path.join(dir, name);
      const st = await fsp.lstat(temp).catch(() => undefined);
      if (st === undefined || !st.isFile() || st.mtimeMs > cutoffMs) continue;
      try {
        await fsp.unlink(temp);
        removed.push(name);
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw err;
      }
    }
  } catch (err) {
    onWarning(`could not remove temp files left by dead writers of ${file}: ${errorMessage(err)}`);
  }
  return removed;
}
