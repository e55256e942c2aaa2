/**
 * A throwaway redis-server: started on a free loopback port (redis has no port 0) with no
 * persistence and a temp dir, stopped after. Free of vitest, so the registry bench
 * (bench/registry) starts its server with this too; the tests' skip rules are redis.ts's.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const REDIS_SERVER = process.env.WIRECALL_REDIS_SERVER ?? 'redis-server';

/** `redis-server --version`'s version, or undefined when it is not installed. */
export function redisVersion(): string | undefined {
  const probe = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) return undefined;
  return /v=(\S+)/.exec(probe.stdout)?.[1] ?? probe.stdout.trim();
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /** A sentinel.conf: start a Sentinel with it instead of a server. */
  sentinel?: string;
  /** The temp dir's name prefix. Default `wirecall-redis-`. */
  dirPrefix?: string;
  /** SIGKILL the server if this process exits before stop() (a run that dies on an uncaught error). Default false. */
  killAtExit?: boolean;
}

/** Starts a Sentinel on a free port watching the master at `masterPort` as `name` (quorum 1). */
export function startSentinel(masterPort: number, name = 'mymaster'): Promise<RedisServer> {
  return startRedis([], { sentinel: `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1\n` });
}

/** Starts a redis-server on a free port; resolves once it accepts connections. */
export async function startRedis(extraArgs: string[] = [], options: StartRedisOptions = {}): Promise<RedisServer> {
  let lastError = '';
  const readyLine = options.sentinel === undefined ? 'Ready to accept connections' : '+monitor master';
  // Another process may take the free port between the probe and the bind: try again.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), options.dirPrefix ?? 'wirecall-redis-'));
    const head: string[] = [];
    if (options.sentinel !== undefined) {
      const conf = path.join(dir, 'sentinel.conf');
      writeFileSync(conf, options.sentinel);
      head.push(conf, '--sentinel');
    }
    const args = [...head, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'no', ...(head.length > 0 ? [] : ['--save', '', '--appendonly', 'no']), ...extraArgs];
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const ready = await new Promise<boolean>((resolve) => {
      let out = '';
      const timer = setTimeout(() => resolve(false), 10_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes(readyLine)) {
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
      await stop(child, dir);
      continue;
    }
    child.stdout!.resume();
    const orphanGuard = (): void => void child.kill('SIGKILL');
    if (options.killAtExit === true) process.once('exit', orphanGuard);
    return {
      port,
      dir,
      url: `redis://127.0.0.1:${port}`,
      stop: () => {
        process.removeListener('exit', orphanGuard);
        return stop(child, dir);
      },
    };
  }
  throw new Error(`redis-server did not start: ${lastError.slice(-500)}`);
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

async function stop(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
}
