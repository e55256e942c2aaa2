/**
 * The child processes of the benchmark, both sides of their one protocol. Every child
 * runs bench/child.ts, forked with its role as arguments (see there).
 *
 * - Start: the child's first message is `{ type: 'ready', ... }` (with an endpoint, or a
 *   result) or `{ type: 'error', error }`.
 * - Requests (client processes): the parent sends `{ id, op, ... }`, the child answers
 *   `{ id, ok, error?, ... }`, each request with a time limit on the parent's side.
 * - Stop: the parent sends `{ type: 'stop' }` and disconnects; the child closes and
 *   exits, also when the channel just goes away, so a crashed parent leaves nothing
 *   behind. The parent kills a child that takes longer than 3 s, and every child when
 *   it exits itself, whatever happens.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withTimeout } from './loops.js';

const SCRIPT = fileURLToPath(new URL('../child.js', import.meta.url));
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** A child's first message. */
export interface Ready {
  type: string;
  endpoint?: string;
  error?: string;
  /** A probe's answer. */
  result?: unknown;
}

/** Parent → child (Child.request adds the id). */
export interface Request {
  op: string;
  /** Named in the message of a request that timed out. */
  scenario?: string;
}

/** Child → parent. */
export interface Reply {
  id: number;
  ok: boolean;
  error?: string;
}

// ------------------------------------------------------------------ the parent's side

export class Child<Q extends Request = Request, R extends Reply = Reply> {
  private nextId = 0;
  private readonly waiting = new Map<number, (reply: R) => void>();
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly name: string,
  ) {
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      live.delete(child);
      for (const resolve of this.waiting.values()) resolve({ id: -1, ok: false, error: `${name} exited` } as R);
      this.waiting.clear();
    });
    child.on('message', (m: R) => {
      const resolve = this.waiting.get(m.id);
      if (resolve !== undefined) {
        this.waiting.delete(m.id);
        resolve(m);
      }
    });
  }

  /** Fork `child.js ...args` and wait for its first message (`ready` or `error`). */
  static async start<Q extends Request = Request, R extends Reply = Reply>(
    name: string,
    args: string[],
    execArgv: string[] = [],
    timeoutMs = 20_000,
  ): Promise<{ child: Child<Q, R>; ready: Ready }> {
    const proc = fork(SCRIPT, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    live.add(proc);
    const first = new Promise<Ready>((resolve, reject) => {
      proc.once('message', (m: Ready) => (m.type === 'error' ? reject(new Error(`${name}: ${m.error}`)) : resolve(m)));
      proc.once('exit', (code, signal) => reject(new Error(`${name} exited early (code ${code}, signal ${signal})`)));
      proc.once('error', reject);
    });
    const child = new Child<Q, R>(proc, name);
    try {
      return { child, ready: await withTimeout(first, timeoutMs, `starting ${name}`) };
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    }
  }

  /** Send a request; resolves with the reply, rejects on error or after `ms`. */
  async request(req: Q, ms: number): Promise<R> {
    const id = ++this.nextId;
    const reply = new Promise<R>((resolve) => this.waiting.set(id, resolve));
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

// ------------------------------------------------------------------ the child's side

/** Send a message to the parent; resolves once it is written. */
export function tellParent(message: unknown): Promise<void> {
  return new Promise((resolve) => process.send!(message, () => resolve()));
}

/** Answer the parent's requests with `handle`; a failure becomes `{ id, ok: false, error }`. */
export function answerRequests<Q extends Request, R extends Reply>(handle: (req: Q & { id: number }) => Promise<R>): void {
  process.on('message', (req: Q & { id: number }) => {
    if (typeof req?.op !== 'string') return; // 'stop': the parent disconnects next
    handle(req).then(
      (reply) => process.send!(reply),
      (err: unknown) => process.send!({ id: req.id, ok: false, error: String((err as Error)?.stack ?? err) }),
    );
  });
}

/**
 * On the parent's `{ type: 'stop' }` or its disconnect, close and exit, bounded to 2 s
 * even if the close hangs.
 */
export function exitWhenParentStops(close: () => Promise<void>): void {
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 2000).unref();
    await close().catch(() => {});
    process.exit(0);
  };
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'stop') void stop();
  });
  process.on('disconnect', () => void stop());
}
