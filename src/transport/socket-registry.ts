/**
 * Process-wide set of the socket files we created, so they are removed even when the
 * process is stopped by SIGINT/SIGTERM or exits without closing its listeners.
 *
 * Handlers are installed lazily with the first file and removed with the last. On a
 * signal we unlink everything synchronously; if nobody else listens for that signal we
 * re-raise it, so the process still dies by the signal (exit status 128+n) as it would
 * have without us.
 */
import fs from 'node:fs';
import { exitBySignal } from './signals.js';

export interface OwnedSocketFile {
  readonly path: string;
  /** Identity recorded right after bind; we never unlink a file that is no longer ours. */
  readonly dev: bigint;
  readonly ino: bigint;
  /** A private directory we created for this socket, removed after the socket. */
  readonly dir?: string;
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
const live = new Set<OwnedSocketFile>();
let installed = false;

export function trackSocketFile(file: OwnedSocketFile): void {
  live.add(file);
  if (!installed) {
    installed = true;
    for (const sig of SIGNALS) process.on(sig, onSignal);
    process.on('exit', onExit);
  }
}

/** Removes the file (if still ours) and its private dir, and forgets it. Idempotent. */
export function releaseSocketFile(file: OwnedSocketFile): void {
  removeIfOurs(file);
  live.delete(file);
  if (live.size === 0) uninstall();
}

/** How many socket files are currently tracked (for tests and diagnostics). */
export function trackedSocketFiles(): number {
  return live.size;
}

/** Reads the identity of a just-bound socket file. */
export function identify(path: string, dir?: string): OwnedSocketFile {
  const st = fs.lstatSync(path, { bigint: true });
  return dir === undefined ? { path, dev: st.dev, ino: st.ino } : { path, dev: st.dev, ino: st.ino, dir };
}

function removeIfOurs(file: OwnedSocketFile): void {
  try {
    const st = fs.lstatSync(file.path, { bigint: true });
    if (st.dev === file.dev && st.ino === file.ino) fs.unlinkSync(file.path);
  } catch {
    // Already gone (or unreadable): nothing of ours to remove.
  }
  if (file.dir !== undefined) {
    try {
      fs.rmdirSync(file.dir);
    } catch {
      // Not empty or already gone: someone else put files there; leave it.
    }
  }
}

function removeAll(): void {
  for (const file of live) removeIfOurs(file);
  live.clear();
  uninstall();
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  for (const sig of SIGNALS) process.off(sig, onSignal);
  process.off('exit', onExit);
}

function onSignal(signal: NodeJS.Signals): void {
  removeAll();
  // Someone else handles this signal: leave the decision to exit to them.
  exitBySignal(signal);
}

function onExit(): void {
  removeAll();
}
