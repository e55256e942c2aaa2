/** For the service registry's tests: its fixtures, services.json, a dead pid, a lock holder in a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from './build.js';

export const FIXTURES = fileURLToPath(new URL('../manager/registry/fixtures/', import.meta.url));
/** What `npm run build` makes of file-registry.ts; children import it. */
export const DIST_FILE_REGISTRY = path.join(ROOT, 'dist/src/manager/registry/file-registry.js');
const LOCK_HOLDER = path.join(FIXTURES, 'lock-holder.mjs');

export async function readFixture(name: string): Promise<string> {
  return fs.readFile(path.join(FIXTURES, name), 'utf8');
}

/** Copies a fixture into `dir` as services.json. */
export async function installFixture(dir: string, name: string): Promise<void> {
  await fs.copyFile(path.join(FIXTURES, name), path.join(dir, 'services.json'));
}

export async function readServicesJson(dir: string): Promise<Array<Record<string, unknown>>> {
  return JSON.parse(await fs.readFile(path.join(dir, 'services.json'), 'utf8')) as Array<Record<string, unknown>>;
}

/** The pid of a process that has exited and been reaped (killed with SIGKILL). */
export async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn a child');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
  return pid;
}

/** A child process holding (or waiting for) the registry lock: fixtures/lock-holder.mjs. */
export interface LockHolder {
  readonly pid: number;
  /** The first stdout line starting with `prefix` (already printed or to come); rejects if the child exits first. */
  line(prefix: string): Promise<string>;
  /** SIGKILL, and wait until it is reaped. */
  kill(): Promise<void>;
}

/**
 * Starts a lock holder on the registry in `dir`: `hold` takes the lock and waits,
 * `write` takes it and stops half-way through writing services.json (its temp file made).
 */
export function startLockHolder(dir: string, staleMs: number, mode: 'hold' | 'write'): LockHolder {
  const child: ChildProcess = spawn(process.execPath, [LOCK_HOLDER, path.dirname(DIST_FILE_REGISTRY), dir, String(staleMs), mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('could not spawn a lock holder');
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let exit: string | undefined;
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    for (const check of waiters) check();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = String(code ?? signal);
      for (const check of waiters) check();
      resolve();
    });
  });
  return {
    pid: child.pid,
    line: (prefix) =>
      new Promise<string>((resolve, reject) => {
        const check = (): void => {
          const found = lines.find((l) => l.startsWith(prefix));
          if (found === undefined && exit === undefined) return;
          waiters.delete(check);
          if (found !== undefined) resolve(found);
          else reject(new Error(`lock holder exited (${exit}) before printing ${JSON.stringify(prefix)}; stderr: ${stderr}`));
        };
        waiters.add(check);
        check();
      }),
    kill: async () => {
      if (exit === undefined) child.kill('SIGKILL');
      await exited;
    },
  };
}
