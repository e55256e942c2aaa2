/**
 * Processes for the reliability suite: the server under test, the good clients and the
 * peers that get killed, each a child running the compiled package (dist/), talking to
 * the test over IPC. Every child is tracked and killed by `Children.cleanup()`; every
 * child also exits by itself when its IPC channel to the test closes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SUPPORT = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(SUPPORT, '../../..');
/** The compiled package, for clients the test process runs itself. */
export const DIST_INDEX = path.join(ROOT, 'dist/src/index.js');

export type Wirecall = typeof import('../../../src/index.js');
/** The compiled package, loaded at run time (after the build), typed from the sources. */
export async function loadWirecall(): Promise<Wirecall> {
  return (await import(/* @vite-ignore */ DIST_INDEX)) as Wirecall;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `every` ms until it returns a value other than undefined/false, or `ms` pass. */
export async function waitFor<T>(check: () => T | undefined | false, ms: number, every = 20): Promise<T | undefined> {
  const until = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() >= until) return undefined;
    await sleep(every);
  }
}

/** Everything a test started; `cleanup()` in afterEach kills and removes it all. */
export class Children {
  private readonly procs: ChildProcess[] = [];
  private readonly dirs: string[] = [];
  private readonly disposers: Array<() => unknown> = [];

  track<C extends ChildProcess>(child: C): C {
    this.procs.push(child);
    return child;
  }

  dir(): string {
    const d = mkdtempSync(path.join(os.tmpdir(), 'wc-rel-'));
    this.dirs.push(d);
    return d;
  }

  defer(dispose: () => unknown): void {
    this.disposers.push(dispose);
  }

  async cleanup(): Promise<void> {
    for (const d of this.disposers.splice(0).reverse()) {
      try {
        await d();
      } catch {
        // best effort
      }
    }
    await Promise.all(this.procs.splice(0).map((c) => killHard(c)));
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

/** SIGCONT (a stopped child would not die of SIGTERM) then SIGKILL; resolves when it has exited. */
export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  } catch {
    // already gone
  }
  await Promise.race([exited, sleep(5000)]);
}

function forkChild(script: string, args: string[], children: Children): ChildProcess {
  const child = fork(path.join(SUPPORT, script), args, {
    // Not vitest's loader flags: the children run plain JavaScript from dist/.
    execArgv: [],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'json',
  });
  children.track(child);
  // Many waiters may watch one child's exit at once (hundreds of hostile peers).
  child.setMaxListeners(0);
  // Keep the last of their stderr for failure messages; never let a full pipe block them.
  const tail: string[] = [];
  child.stderr!.on('data', (d: Buffer) => {
    tail.push(d.toString());
    if (tail.length > 20) tail.shift();
  });
  child.stdout!.resume();
  (child as ChildProcess & { stderrTail: string[] }).stderrTail = tail;
  return child;
}

export function stderrOf(child: ChildProcess): string {
  return ((child as ChildProcess & { stderrTail?: string[] }).stderrTail ?? []).join('');
}

/** Request/response over a child's IPC channel: `{ req: id, cmd, ... }` → `{ res: id, ... }`. */
class Ipc {
  private nextReq = 1;
  private readonly waiting = new Map<number, (msg: Record<string, unknown>) => void>();

  constructor(private readonly child: ChildProcess) {
    child.on('message', (msg: Record<string, unknown>) => {
      if (typeof msg?.res === 'number') {
        const w = this.waiting.get(msg.res);
        this.waiting.delete(msg.res);
        w?.(msg);
      }
    });
  }

  request<T = Record<string, unknown>>(cmd: string, fields: Record<string, unknown> = {}, ms = 30_000): Promise<T> {
    const req = this.nextReq++;
    return new Promise<T>((resolve, reject) => {
      const finish = (err: Error | undefined, msg?: Record<string, unknown>): void => {
        clearTimeout(timer);
        this.waiting.delete(req);
        this.child.off('exit', onExit);
        if (err !== undefined) reject(err);
        else resolve(msg as T);
      };
      const onExit = (): void => finish(new Error(`child exited before answering '${cmd}'\n${stderrOf(this.child)}`));
      const timer = setTimeout(() => finish(new Error(`child did not answer '${cmd}' within ${ms} ms`)), ms);
      this.waiting.set(req, (msg) => finish(undefined, msg));
      this.child.once('exit', onExit);
      if (this.child.exitCode !== null || this.child.signalCode !== null || !this.child.connected) {
        finish(new Error(`child is gone; cannot send '${cmd}'`));
        return;
      }
      this.child.send({ req, cmd, ...fields }, (err) => {
        if (err) finish(err);
      });
    });
  }
}

/** An event the server child reported (see server-child.mjs). */
export interface ServerEvent {
  ev: string;
  t: number;
  peer?: string | null;
  code?: string | null;
  message?: string;
  address?: string;
  method?: string;
  aborted?: boolean;
  sent?: number;
  [key: string]: unknown;
}

export interface RssSampler {
  /** Largest RSS seen, in bytes. */
  readonly max: number;
  readonly samples: number;
  /** Every sample in order, in bytes (a timeline of the run). */
  readonly series: readonly number[];
  /** Set when the server went over the safety cap and was killed. */
  readonly killedAt: number | undefined;
  stop(): void;
}

/**
 * A server the test must never let eat the machine (others work on it too): over this
 * RSS the sampler SIGKILLs it, and the test fails on the RSS bound.
 */
export const RSS_SAFETY_CAP = 1536 * 1024 * 1024;

export interface ServerStats {
  rss: number;
  heapUsed: number;
  /** V8's heap as committed from the OS: used or not. */
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** Per V8 heap space (new_space, old_space, …): committed and used bytes. */
  spaces: Record<string, { size: number; used: number }>;
  connections: number;
  states: Record<string, number>;
}

export class ServerProcess {
  readonly events: ServerEvent[] = [];
  private readonly ipc: Ipc;
  private readonly listeners = new Set<(e: ServerEvent) => void>();

  private constructor(
    readonly child: ChildProcess,
    readonly unix: string,
    public tcp: string | null,
  ) {
    this.ipc = new Ipc(child);
    child.on('message', (msg: ServerEvent) => {
      if (typeof msg?.ev !== 'string') return;
      this.events.push(msg);
      for (const l of this.listeners) l(msg);
    });
  }

  static async start(children: Children, options: Record<string, unknown>, { tcp = false } = {}): Promise<ServerProcess> {
    const dir = children.dir();
    const sock = path.join(dir, 's.sock');
    const child = forkChild('server-child.mjs', [JSON.stringify({ options, unix: sock, tcp })], children);
    const server = new ServerProcess(child, `unix:${sock}`, null);
    const listening = await server.waitEvent((e) => e.ev === 'listening', 20_000);
    if (listening === undefined) throw new Error(`server child did not start\n${stderrOf(child)}`);
    server.tcp = (listening.tcp as string | null) ?? null;
    return server;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  stats(ms = 30_000): Promise<ServerStats> {
    return this.ipc.request<ServerStats>('stats', {}, ms);
  }

  /** The first event (already seen or still to come) that matches, or undefined after `ms`. */
  waitEvent(match: (e: ServerEvent) => boolean, ms: number): Promise<ServerEvent | undefined> {
    const seen = this.events.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const listener = (e: ServerEvent): void => {
        if (!match(e)) return;
        done(e);
      };
      const onExit = (): void => done(undefined);
      const timer = setTimeout(() => done(undefined), ms);
      const done = (e: ServerEvent | undefined): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        this.child.off('exit', onExit);
        resolve(e);
      };
      this.listeners.add(listener);
      this.child.once('exit', onExit);
    });
  }

  /** Events about one peer (by the name in its HELLO). */
  eventsOf(peer: string): ServerEvent[] {
    return this.events.filter((e) => e.peer === peer);
  }

  /**
   * Sample the server's RSS every `every` ms from /proc (outside the server: a server
   * whose event loop is blocked is measured all the same), falling back to IPC elsewhere.
   */
  sampleRss(every = 100): RssSampler {
    const pid = this.pid;
    const state = { max: 0, samples: 0, series: [] as number[], killedAt: undefined as number | undefined };
    const procFile = `/proc/${pid}/status`;
    const read = async (): Promise<number | undefined> => {
      try {
        const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(procFile, 'utf8'));
        if (m) return Number(m[1]) * 1024;
      } catch {
        if (process.platform === 'linux') return undefined; // exited
      }
      try {
        return (await this.stats(every * 5)).rss;
      } catch {
        return undefined;
      }
    };
    let busy = false;
    const timer = setInterval(() => {
      if (busy || !this.alive) return;
      busy = true;
      void read().then((rss) => {
        busy = false;
        if (rss === undefined) return;
        state.samples++;
        state.series.push(rss);
        if (rss > state.max) state.max = rss;
        if (rss > RSS_SAFETY_CAP && state.killedAt === undefined) {
          state.killedAt = Date.now();
          console.warn(`[reliability] server RSS ${(rss / 2 ** 20).toFixed(0)} MB is over the safety cap: killing it`);
          this.child.kill('SIGKILL');
        }
      });
    }, every);
    return {
      get max() {
        return state.max;
      },
      get samples() {
        return state.samples;
      },
      get series() {
        return state.series;
      },
      get killedAt() {
        return state.killedAt;
      },
      stop: () => clearInterval(timer),
    };
  }
}

export interface LoadResult {
  clients: number;
  lost: number;
  calls: number;
  ok: number;
  failures: Record<string, number>;
  firstFailures: string[];
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export interface LoadOptions {
  durationMs: number;
  /** Pause of each client between its calls. */
  intervalMs?: number;
  callTimeout?: number;
  payloadBytes?: number;
}

/** N good clients in a child process. */
export class LoadProcess {
  private readonly ipc: Ipc;

  private constructor(readonly child: ChildProcess) {
    this.ipc = new Ipc(child);
  }

  static async start(children: Children, endpoint: string, clients: number, options: Record<string, unknown> = {}): Promise<LoadProcess> {
    const child = forkChild('load-child.mjs', [], children);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load child did not start\n${stderrOf(child)}`)), 20_000);
      child.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const load = new LoadProcess(child);
    const r = await load.ipc.request<{ connected: number; errors: string[] }>('connect', { endpoint, clients, options }, 30_000);
    if (r.connected !== clients) throw new Error(`only ${r.connected} of ${clients} good clients connected: ${r.errors.join('; ')}`);
    return load;
  }

  run(options: LoadOptions): Promise<LoadResult> {
    // Bounded: the run itself, plus one call timeout for the calls still in flight.
    const bound = options.durationMs + (options.callTimeout ?? 5000) + 15_000;
    return this.ipc.request<LoadResult>('run', { ...options }, bound);
  }

  close(): Promise<unknown> {
    return this.ipc.request('close', {}, 5000).catch(() => undefined);
  }
}

/** A real client in a child process, to be killed or stopped mid-call or mid-stream. */
export class PeerProcess {
  readonly events: Array<{ ev: string; t: number; code?: string; message?: string }> = [];

  private constructor(readonly child: ChildProcess) {
    child.on('message', (m: { ev: string; t: number }) => this.events.push(m));
  }

  static async start(
    children: Children,
    config: { endpoint: string; name: string; mode: 'call' | 'stream'; heartbeatInterval: number; readEveryMs?: number; size?: number },
  ): Promise<PeerProcess> {
    const child = forkChild('peer-child.mjs', [JSON.stringify(config)], children);
    const peer = new PeerProcess(child);
    const ok = await waitFor(() => peer.events.some((e) => e.ev === 'connected') || child.exitCode !== null, 20_000);
    if (!ok || child.exitCode !== null) throw new Error(`peer child did not connect\n${stderrOf(child)}`);
    return peer;
  }

  get pid(): number {
    return this.child.pid!;
  }
}

export function mb(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MB`;
}
