/**
 * Test helpers for the manager: temp dirs, in-process servers that say who they are,
 * `wirecall serve --register` child processes (the compiled CLI), bounded waiting.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createServer, type Server } from '../../rpc/server.js';
import type { TransportManagerOptions } from '../options.js';
import { TransportManager } from '../transport-manager.js';

export { CLI, ROOT, buildIfStale } from '../../test-util/build.js';
export { exited, waitFor } from '../../test-util/wait.js';
import { exited } from '../../test-util/wait.js';
import { CLI, ROOT } from '../../test-util/build.js';

/** Temp dirs, servers and children of one test file; cleanup() in afterEach. */
export class Scratch {
  private readonly dirs: string[] = [];
  private readonly servers: Server[] = [];
  private readonly children: ChildProcess[] = [];

  /** A fresh dir with a short path (Unix socket paths are limited to ~107 bytes). */
  dir(): string {
    const d = mkdtempSync(path.join(os.tmpdir(), 'wcm-'));
    this.dirs.push(d);
    return d;
  }

  server(server: Server): Server {
    this.servers.push(server);
    return server;
  }

  child(child: ChildProcess): ChildProcess {
    this.children.push(child);
    return child;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.servers.splice(0).map((s) => s.close({ drainTimeout: 100 })));
    await Promise.all(
      this.children.splice(0).map(async (c) => {
        if (c.exitCode === null && c.signalCode === null) {
          c.kill('SIGKILL');
          await exited(c);
        }
      }),
    );
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

/**
 * An in-process server with `whoami` (returns `tag`), `echo` and `sleep` ({ms}),
 * listening on `endpoint`. Returns the bound endpoint.
 */
export async function tagServer(scratch: Scratch, tag: string, endpoint: string): Promise<{ server: Server; endpoint: string }> {
  const server = scratch.server(createServer({ name: tag, heartbeatInterval: 1000 }));
  server.register('whoami', () => tag);
  server.register('echo', (params: unknown) => params);
  server.registerStream('count', async function* ({ n }: { n: number }) {
    for (let i = 0; i < n; i++) yield `${tag}:${i}`;
  });
  server.registerClientStream('sum', async (messages: AsyncIterable<number>) => {
    let total = 0;
    for await (const m of messages) total += m;
    return total;
  });
  server.register(
    'sleep',
    ({ ms }: { ms: number }, ctx) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => resolve(ms), ms);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(ctx.signal.reason);
        });
      }),
  );
  return { server, endpoint: await server.listen(endpoint) };
}

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

/**
 * A manager on a fresh registry with one registered 'maya' server (tagServer) per tag.
 * The manager joins `managers`, which the test file shuts down after each test.
 */
export async function managedServers(scratch: Scratch, managers: TransportManager[], options: TransportManagerOptions, tags = ['one']) {
  const dir = scratch.dir();
  const manager = new TransportManager({ registryDir: dir, ...options });
  managers.push(manager);
  const servers = [];
  for (const tag of tags) {
    const s = await tagServer(scratch, tag, `unix:${path.join(dir, `${tag}.sock`)}`);
    const instanceId = await manager.registerService('maya', s.endpoint);
    servers.push({ ...s, instanceId, tag });
  }
  return { manager, servers, dir };
}
