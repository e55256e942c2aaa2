/** Waiting in tests: for a condition, for a child process to exit, and whether one still runs. */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Polls `check` every `everyMs` (20) until it is truthy; throws after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 5000, everyMs = 20): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Resolves when `child` has exited (at once if it already has) with its code and signal;
 * rejects if that takes longer than `timeoutMs` (default: wait as long as it takes).
 */
export function exited(child: ChildProcess, timeoutMs = Infinity): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve, reject) => {
    const timer = Number.isFinite(timeoutMs)
      ? setTimeout(() => reject(new Error(`child did not exit within ${timeoutMs} ms`)), timeoutMs)
      : undefined;
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/**
 * Whether process `pid` is still running. A zombie counts as gone: a PID 1 that never
 * reaps (as in some containers) leaves exited orphans answering `kill(pid, 0)`.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (process.platform !== 'linux') return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
