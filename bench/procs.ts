/**
 * Child processes of the spec suite (bench/spec-child.ts): fork, wait until ready,
 * request/reply over IPC with a time limit, stop. Every child is killed when this
 * process exits, whatever happens.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withTimeout } from './lib/loops.js';
import type { TransportKind } from './lib/sockets.js';
import type { ClientReply, ClientRequest, SystemName } from './systems/common.js';

const SCRIPT = fileURLToPath(new URL('./spec-child.js', import.meta.url));
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

interface Ready {
  type: string;
  endpoint?: string;
  error?: string;
  /** The memory probe's answer. */
  result?: unknown;
}

export class Child {
  private nextId = 0;
  private readonly waiting = new Map<number, (reply: ClientReply) => void>();
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly name: string,
  ) {
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      live.delete(child);
      for (const resolve of this.waiting.values()) resolve({ id: -1, ok: false, error: `${name} exited` });
      this.waiting.clear();
    });
    child.on('message', (m: ClientReply) => {
      const resolve = this.waiting.get(m.id);
      if (resolve !== undefined) {
        this.waiting.delete(m.id);
        resolve(m);
      }
    });
  }

  /** Fork `spec-child.js ...args` and wait for its first message (`ready` or `error`). */
  static async start(name: string, args: string[], execArgv: string[] = [], timeoutMs = 20_000): Promise<{ child: Child; ready: Ready }> {
    const proc = fork(SCRIPT, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    live.add(proc);
    const first = new Promise<Ready>((resolve, reject) => {
      proc.once('message', (m: Ready) => (m.type === 'error' ? reject(new Error(`${name}: ${m.error}`)) : resolve(m)));
      proc.once('exit', (code, signal) => reject(new Error(`${name} exited early (code ${code}, signal ${signal})`)));
      proc.once('error', reject);
    });
    const child = new Child(proc, name);
    try {
      return { child, ready: await withTimeout(first, timeoutMs, `starting ${name}`) };
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    }
  }

  /** Send a request; resolves with the reply, rejects on error or after `ms`. */
  async request(req: Omit<ClientRequest, 'id'>, ms: number): Promise<ClientReply> {
    const id = ++this.nextId;
    const reply = new Promise<ClientReply>((resolve) => this.waiting.set(id, resolve));
    this.child.send({ ...req, id });
    try {
      const r = await withTimeout(reply, ms, `${this.name}: ${req.op}${req.scenario ? ` ${req.scenario}` : ''}`);
      if (!r.ok) throw new Error(r.error ?? `${this.name}: ${req.op} failed`);
      return r;
    } finally {
      this.waiting.delete(id);
    }
  }

  /** Ask the child to stop (servers close gracefully), SIGKILL after 3 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) {
      this.child.send({ type: 'stop' });
      this.child.disconnect();
    }
    await withTimeout(this.exited, 3000, `${this.name} exit`).catch(() => this.child.kill('SIGKILL'));
  }
}

/** A system's server in its own process. */
export async function startServerProcess(
  system: SystemName,
  transport: TransportKind,
  options: { execArgv?: string[]; maxConcurrentCalls?: number } = {},
): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const args = ['server', system, transport];
  if (options.maxConcurrentCalls !== undefined) args.push(String(options.maxConcurrentCalls));
  const { child, ready } = await Child.start(`${system} server (${transport})`, args, options.execArgv ?? []);
  return { endpoint: ready.endpoint!, stop: () => child.stop() };
}

/** A system's client in its own process, connected to `endpoint`. */
export async function startClientProcess(system: SystemName, endpoint: string): Promise<Child> {
  const { child } = await Child.start(`${system} client`, ['client', system]);
  try {
    await child.request({ op: 'open', endpoint }, 20_000);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return child;
}
