/**
 * A throwaway redis-server for the registry bench: started on a free loopback port (a
 * registry shared by hosts is reached over TCP, so that is what is measured) with no
 * persistence and a temp dir, stopped after. src/test-util/redis.ts does the same for
 * tests but imports vitest, so it is not compiled into dist/bench.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';

export const REDIS_SERVER = process.env.WIRECALL_REDIS_SERVER ?? 'redis-server';

const adminClient = (url: string) => createClient({ url });
export type AdminClient = ReturnType<typeof adminClient>;

export interface BenchRedis {
  readonly port: number;
  readonly url: string;
  readonly version: string;
  /** A plain node-redis client for INFO, MEMORY USAGE, FLUSHALL (not the registry's). */
  readonly admin: AdminClient;
  stop(): Promise<void>;
}

/** `redis-server --version`'s version, or undefined when it is not installed. */
export function redisVersion(): string | undefined {
  const probe = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) return undefined;
  return /v=(\S+)/.exec(probe.stdout)?.[1] ?? probe.stdout.trim();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startRedis(): Promise<BenchRedis> {
  const version = redisVersion();
  if (version === undefined) throw new Error(`${REDIS_SERVER} not found: run \`npm run setup:redis\` (or set WIRECALL_REDIS_SERVER)`);
  let lastError = '';
  // Another process may take the free port between the probe and the bind: try again.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wirecall-bench-redis-'));
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const ready = await new Promise<boolean>((resolve) => {
      let out = '';
      const timer = setTimeout(() => resolve(false), 10_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      child.stderr!.on('data', (c: Buffer) => (lastError += c.toString()));
      child.once('exit', () => {
        clearTimeout(timer);
        lastError += out;
        resolve(false);
      });
    });
    if (!ready) {
      await kill(child, dir);
      continue;
    }
    child.stdout!.resume();
    // A bench that dies on an uncaught error must not leave its server running.
    const orphanGuard = (): void => void child.kill('SIGKILL');
    process.once('exit', orphanGuard);
    const url = `redis://127.0.0.1:${port}`;
    const admin = adminClient(url);
    admin.on('error', () => undefined); // the server is stopped under it at the end
    await admin.connect();
    return {
      port,
      url,
      version,
      admin,
      stop: async () => {
        process.removeListener('exit', orphanGuard);
        admin.destroy();
        await kill(child, dir);
      },
    };
  }
  throw new Error(`redis-server did not start: ${lastError.slice(-500)}`);
}

async function kill(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
}

/** INFO <section> as a map of field → value. */
export async function info(admin: AdminClient, section: string): Promise<Map<string, string>> {
  const text = String(await admin.sendCommand(['INFO', section]));
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

/** Seconds of CPU the server has used (user + sys), for its utilisation over a run. */
export async function serverCpuSeconds(admin: AdminClient): Promise<number> {
  const cpu = await info(admin, 'cpu');
  return Number(cpu.get('used_cpu_user') ?? 0) + Number(cpu.get('used_cpu_sys') ?? 0);
}

export async function usedMemory(admin: AdminClient): Promise<number> {
  return Number((await info(admin, 'memory')).get('used_memory') ?? 0);
}

/** MEMORY USAGE of a key with every element counted (SAMPLES 0). */
export async function memoryUsage(admin: AdminClient, key: string): Promise<number> {
  return Number((await admin.sendCommand(['MEMORY', 'USAGE', key, 'SAMPLES', '0'])) ?? 0);
}
