/**
 * A real redis-server for a test file: started by the test on a free port (redis has no
 * port 0) with no persistence and a temp dir, stopped after. `npm run setup:redis`
 * (scripts/setup-redis.sh) installs it. Without it, a test file is skipped with one line
 * saying so, except with CI=true, where it fails.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';

export const inCI = process.env.CI === 'true';
export const REDIS_SERVER = process.env.WIRECALL_REDIS_SERVER ?? 'redis-server';

export interface RedisPeer {
  readonly installed: boolean;
  /** Run the file's tests: installed, or CI (where a missing server must fail them). */
  readonly run: boolean;
  requireInstalled(): void;
}

/** Is redis-server there? Prints the one skip line when it is not, outside CI. */
export function redisPeer(what: string): RedisPeer {
  const probe = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' });
  const installed = probe.status === 0;
  const line = `${what}: needs redis-server; run \`npm run setup:redis\` first`;
  if (!installed && !inCI) process.stderr.write(`${line}\n`);
  return {
    installed,
    run: installed || inCI,
    requireInstalled(): void {
      if (!installed) expect.fail(`${line} (CI=true: redis-server must be installed)`);
    },
  };
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  stop(): Promise<void>;
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

/** Starts a Sentinel on a free port watching the master at `masterPort` as `name` (quorum 1). */
export function startSentinel(masterPort: number, name = 'mymaster'): Promise<RedisServer> {
  return startRedis([], { sentinel: `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1\n` });
}

/** Starts a redis-server on a free port; resolves once it accepts connections. */
export async function startRedis(extraArgs: string[] = [], options: { sentinel?: string } = {}): Promise<RedisServer> {
  let lastError = '';
  const readyLine = options.sentinel === undefined ? 'Ready to accept connections' : '+monitor master';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wirecall-redis-'));
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
      const onData = (chunk: Buffer): void => {
        out += chunk.toString();
        if (out.includes(readyLine)) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (c: Buffer) => (lastError += c.toString()));
      child.once('exit', () => {
        clearTimeout(timer);
        lastError += out;
        resolve(false);
      });
    });
    if (ready) {
      child.stdout!.resume();
      return { port, dir, url: `redis://127.0.0.1:${port}`, stop: () => stop(child, dir) };
    }
    await stop(child, dir);
  }
  throw new Error(`redis-server did not start: ${lastError.slice(-500)}`);
}

async function stop(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
}
