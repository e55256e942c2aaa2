/** The compiled `wirecall` command in child processes (build it first: buildIfStale). */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CLI, ROOT } from './build.js';
import type { Scratch } from './scratch.js';

export interface ServeChild {
  child: ChildProcess;
  endpoint: string;
  instanceId: string;
  stderr(): string;
}

/**
 * `wirecall serve <endpoint> --register <dccType>` in a child process, with
 * WIRECALL_REGISTRY_DIR=registryDir; resolves once it has printed both of its lines.
 */
export async function serveChild(scratch: Scratch, registryDir: string, dccType: string, endpoint: string, extra: string[] = []): Promise<ServeChild> {
  const child = scratch.child(
    spawn(process.execPath, [CLI, 'serve', endpoint, '--register', dccType, ...extra], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WIRECALL_REGISTRY_DIR: registryDir },
    }),
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const lines: string[] = [];
  const rl = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve printed ${lines.length} lines in 10 s; stderr: ${stderr}`)), 10_000);
    rl.on('line', (line) => {
      lines.push(line);
      if (lines.length === 2) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code ?? signal}); stderr: ${stderr}`));
    });
  });
  const listening = /^listening on (\S+)$/.exec(lines[0]!);
  const registered = /^registered (\S+) (\S+)$/.exec(lines[1]!);
  if (listening === null || registered === null) throw new Error(`unexpected serve output: ${JSON.stringify(lines)}`);
  return { child, endpoint: listening[1]!, instanceId: registered[2]!, stderr: () => stderr };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the compiled CLI to completion (killed after 15 s). `input`, when given, is
 * written to its stdin, which is then closed; without it stdin is /dev/null.
 * $WIRECALL_TOKEN of the person running the tests is not passed on unless `env` sets it.
 */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<CliResult> {
  const fullEnv = { ...process.env, ...env };
  if (!('WIRECALL_TOKEN' in env)) delete fullEnv['WIRECALL_TOKEN'];
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: fullEnv });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  if (input !== undefined) {
    child.stdin!.on('error', () => {}); // it may exit before reading it all
    child.stdin!.end(input);
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface DemoChild {
  child: ChildProcess;
  endpoint: string;
  /** Everything it wrote to stderr so far (its -v log). */
  stderr(): string;
  /** Resolves once stderr matches `pattern` (rejects after `timeoutMs`). */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** The lines it printed on stdout, the first one included. */
  stdoutLines: string[];
}

/** `wirecall serve ...args` in a child process; resolves once it prints "listening on <endpoint>". */
export async function serveDemo(scratch: Scratch, args: string[], env: NodeJS.ProcessEnv = {}): Promise<DemoChild> {
  const fullEnv = { ...process.env, ...env };
  if (!('WIRECALL_TOKEN' in env)) delete fullEnv['WIRECALL_TOKEN'];
  const child = scratch.child(spawn(process.execPath, [CLI, 'serve', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: fullEnv }));
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    for (const check of waiters) check();
  });
  const stdoutLines: string[] = [];
  const rl = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve printed nothing in 10 s; stderr: ${stderr}`)), 10_000);
    rl.on('line', (line) => {
      stdoutLines.push(line);
      if (stdoutLines.length > 1) return;
      clearTimeout(timer);
      resolve(line);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code ?? signal}) before listening; stderr: ${stderr}`));
    });
  });
  const match = /^listening on (\S+)$/.exec(first);
  if (match === null) throw new Error(`unexpected first line: ${JSON.stringify(first)}`);
  return {
    child,
    endpoint: match[1]!,
    stdoutLines,
    stderr: () => stderr,
    waitForStderr: (pattern, timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`serve's stderr never matched ${pattern}; got: ${stderr}`));
        }, timeoutMs);
        const check = (): void => {
          if (!pattern.test(stderr)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      }),
  };
}
