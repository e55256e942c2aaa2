/**
 * What runs on the netns hosts: redis-server (and Sentinels), service processes, the
 * client host's driver (a TransportManager) and the `wirecall` CLI, each inside its
 * namespace, every wait bounded.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, ROOT } from '../../../src/test-util/build.js';
import type { Topology } from './netns.js';

const SERVICE_CHILD = fileURLToPath(new URL('./service-child.mjs', import.meta.url));
const DRIVER_CHILD = fileURLToPath(new URL('./driver-child.mjs', import.meta.url));

/** Resolves with `what` once `check` sees it in the text so far; rejects after `ms` or if the child exits. */
function outputMatching(child: ChildProcess, check: (text: string) => boolean, what: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => done(new Error(`${what}: not within ${ms} ms; output: ${text.slice(-1000)}`)), ms);
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      if (check(text)) done();
    };
    const onExit = (code: number | null, signal: string | null): void => done(new Error(`${what}: exited (${code ?? signal}); output: ${text.slice(-1000)}`));
    const done = (err?: Error): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      if (err === undefined) resolve();
      else reject(err);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

export interface RedisProcess {
  child: ChildProcess;
  port: number;
  dir: string;
  /** SIGKILL, and its data directory goes. */
  kill(): Promise<void>;
}

/**
 * A redis-server on `host` at its address and `port`, no persistence, protected mode off
 * (it is reached from other hosts without a password), in a fresh directory. `sentinel`:
 * the Sentinel config lines instead (run with --sentinel).
 */
export async function startRedisOn(topo: Topology, host: string, port: number, options: { args?: string[]; sentinel?: string } = {}): Promise<RedisProcess> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wirecall-netns-redis-'));
  const common = ['--port', String(port), '--bind', topo.addr(host), '--protected-mode', 'no', '--dir', dir, '--daemonize', 'no'];
  let args: string[];
  if (options.sentinel !== undefined) {
    const conf = path.join(dir, 'sentinel.conf');
    writeFileSync(conf, options.sentinel);
    args = [conf, '--sentinel', ...common];
  } else {
    args = [...common, '--save', '', '--appendonly', 'no', ...(options.args ?? [])];
  }
  const child = topo.spawn(host, 'redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const ready = options.sentinel !== undefined ? /Sentinel ID is|\+monitor master/ : /Ready to accept connections/;
  try {
    await outputMatching(child, (t) => ready.test(t), `redis-server on ${host}:${port}`, 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  child.stdout!.resume();
  child.stderr!.resume();
  return {
    child,
    port,
    dir,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 5000))]);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `redis-cli -h <addr of target> -p <port> …` run on `from`; its stdout. */
export async function redisCli(topo: Topology, from: string, target: string, port: number, args: string[]): Promise<string> {
  const child = topo.spawn(from, 'redis-cli', ['-h', topo.addr(target), '-p', String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const { stdout } = await finished(child, 5000, 'redis-cli');
  return stdout;
}

/** Output and exit code of a child, killed after `ms`. */
function finished(child: ChildProcess, ms: number, what: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} did not finish within ${ms} ms; stderr: ${stderr}`));
    }, ms);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The compiled `wirecall` CLI on `host`, with `env` added; killed after 15 s. */
export function cliOn(topo: Topology, host: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = topo.spawn(host, process.execPath, [CLI, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WIRECALL_REGISTRY_DIR: '', WIRECALL_TOKEN: '', ...env },
  });
  return finished(child, 15_000, `wirecall ${args.join(' ')}`);
}

/** A child with an IPC channel: requests answered in order of their ids. */
export interface IpcChild {
  child: ChildProcess;
  /** Asks the child; rejects after `ms`. */
  ask<T = unknown>(cmd: string, args?: Record<string, unknown>, ms?: number): Promise<T>;
  /** Messages with an `ev` it sent so far. */
  readonly events: Array<Record<string, unknown>>;
  stderr(): string;
}

function ipcChild(topo: Topology, host: string, script: string, config: unknown, readyEv: string, what: string): Promise<IpcChild & { first: Record<string, unknown> }> {
  const child = topo.spawn(host, process.execPath, [script, JSON.stringify(config)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-20_000)));
  child.stdout!.resume();
  const events: Array<Record<string, unknown>> = [];
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let next = 0;
  child.on('message', (m: Record<string, unknown>) => {
    if (typeof m['res'] === 'number') {
      const p = pending.get(m['res']);
      pending.delete(m['res']);
      if (m['error'] !== undefined) p?.reject(new Error(String(m['error'])));
      else p?.resolve(m['value']);
    } else {
      events.push(m);
    }
  });
  child.once('exit', (code, signal) => {
    for (const p of pending.values()) p.reject(new Error(`${what} exited (${code ?? signal}); stderr: ${stderr.slice(-1000)}`));
    pending.clear();
  });
  const api: IpcChild = {
    child,
    events,
    stderr: () => stderr,
    ask<T>(cmd: string, args: Record<string, unknown> = {}, ms = 10_000): Promise<T> {
      const req = ++next;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(req);
          reject(new Error(`${what}: no answer to ${cmd} within ${ms} ms`));
        }, ms);
        pending.set(req, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        child.send({ req, cmd, args });
      });
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: not ${readyEv} within 15 s; stderr: ${stderr.slice(-2000)}`)), 15_000);
    const onMessage = (m: Record<string, unknown>): void => {
      if (m['ev'] === 'failed') return finish(new Error(`${what} failed: ${String(m['message'])}`));
      if (m['ev'] === readyEv) finish(undefined, m);
    };
    const onExit = (code: number | null, signal: string | null): void => finish(new Error(`${what} exited (${code ?? signal}); stderr: ${stderr.slice(-2000)}`));
    const finish = (err?: Error, first?: Record<string, unknown>): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err !== undefined) reject(err);
      else resolve({ ...api, first: first! });
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

export type RegistrySpec = string | { sentinels: Array<{ host: string; port: number }>; name: string };

export interface ServiceProcess extends IpcChild {
  host: string;
  instanceId: string;
  endpoint: string;
}

/** A service on `host`: mutual TLS on tls://<addr>:7443, registered as `dccType`. */
export async function startService(
  topo: Topology,
  host: string,
  options: { dccType: string; registry: RegistrySpec; tls: { certFile: string; keyFile: string; caFile: string }; heartbeatInterval: number },
): Promise<ServiceProcess> {
  const config = { name: host, listen: `tls://${topo.addr(host)}:7443`, ...options };
  const c = await ipcChild(topo, host, SERVICE_CHILD, config, 'registered', `service on ${host}`);
  return { ...c, host, instanceId: String(c.first['instanceId']), endpoint: String(c.first['endpoint']) };
}

export interface WatchRecord {
  t: number;
  type: string;
  revision: number;
  resync?: boolean;
  ids: string[];
}

export interface CallRecord {
  ok: boolean;
  host?: string;
  code?: string;
  message?: string;
  start: number;
  end: number;
}

/** The client host's TransportManager (driver-child.mjs). */
export async function startDriver(
  topo: Topology,
  host: string,
  options: { dccType: string; registry: RegistrySpec; tls: { certFile: string; keyFile: string; caFile: string }; registryHeartbeatInterval: number },
): Promise<IpcChild> {
  return ipcChild(topo, host, DRIVER_CHILD, options, 'ready', `driver on ${host}`);
}
