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

/** Runs the compiled CLI to completion (killed after 15 s). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
