/**
 * The plugin side's "is my host still there?": stdin EOF (when launchPlugin holds the
 * other end) and polling the parent pid, so a host killed outright leaves no plugin
 * behind. Node's process.ppid is read once at start-up, so the current parent is read
 * from /proc on Linux; elsewhere a signal-0 probe of the original parent is used.
 */
import { readFileSync } from 'node:fs';
import { errorCode } from '../util/error-code.js';

export interface ParentWatchOptions {
  /** Watch stdin for EOF. */
  stdin: boolean;
  /** Milliseconds between parent-pid checks; 0 turns polling off. */
  interval: number;
  onGone: (reason: string) => void;
}

/** Starts watching; returns a function that stops. */
export function watchParent(options: ParentWatchOptions): () => void {
  let done = false;
  const gone = (reason: string): void => {
    if (done) return;
    stop();
    options.onGone(reason);
  };
  const original = process.ppid;
  let timer: NodeJS.Timeout | undefined;
  // A parent pid of 1 (or 0 on Windows) means we were already orphaned or started by init: nothing to watch.
  if (options.interval > 0 && original > 1) {
    timer = setInterval(() => {
      if (!parentAlive(original)) gone(`parent process ${original} is gone`);
    }, options.interval);
    timer.unref();
  }
  const onEnd = (): void => gone('stdin closed (the host is gone)');
  if (options.stdin) {
    process.stdin.on('end', onEnd);
    process.stdin.on('close', onEnd);
    process.stdin.on('error', onEnd);
    process.stdin.on('data', () => {});
    process.stdin.resume();
  }
  function stop(): void {
    done = true;
    if (timer !== undefined) clearInterval(timer);
    if (options.stdin) {
      process.stdin.off('end', onEnd);
      process.stdin.off('close', onEnd);
      process.stdin.off('error', onEnd);
      process.stdin.pause();
      // Let the process exit once nothing else holds it.
      (process.stdin as unknown as { unref?: () => void }).unref?.();
    }
  }
  return () => {
    if (!done) stop();
  };
}

function parentAlive(original: number): boolean {
  if (process.platform === 'linux') {
    const current = currentParent();
    if (current !== undefined) return current === original;
  }
  try {
    process.kill(original, 0);
    return true;
  } catch (err) {
    return errorCode(err) === 'EPERM';
  }
}

/** The parent pid from /proc/self/stat: the fourth field, after the command name in parentheses. */
function currentParent(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(fields[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}
