/**
 * The echo servers every call benchmark talks to, in this process or in a child process
 * (bench/child-server.ts), and a pool that starts each one once per group.
 *
 * Every server offers the same thing: `echo` returns its argument unchanged. The wirecall
 * server also counts `tick` notifications (`ticks` reads the count, `resetTicks` zeroes it).
 */
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { createServer } from '../src/index.js';
import type { Impl, Placement } from './harness.js';
import { closedLoop, withTimeout } from './lib/loops.js';
import { listenOn, type TransportKind } from './lib/sockets.js';

export interface RunningServer {
  /** How a client of this impl reaches it (wirecall URL, gRPC target, raw `tcp:`/`unix:`). */
  endpoint: string;
  close(): Promise<void>;
}

export async function startWirecallServer(transport: TransportKind): Promise<RunningServer> {
  let ticks = 0;
  const server = createServer({ name: 'bench-server' });
  server.register('echo', (params: unknown) => params);
  server.register('tick', () => {
    ticks++;
  });
  server.register('ticks', () => ticks);
  server.register('resetTicks', () => {
    ticks = 0;
    return true;
  });
  // unix: a fresh private socket (what a tool process would advertise to its parent).
  const endpoint = await server.listen(transport === 'tcp' ? 'tcp://127.0.0.1:0' : undefined);
  return {
    endpoint,
    close: () => withTimeout(server.close({ drainTimeout: 500 }), 3000, 'wirecall server close').catch(() => {}),
  };
}

/** The floor: a bare socket that writes back whatever it reads, no framing at all. */
export async function startRawServer(transport: TransportKind): Promise<RunningServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  return listenOn(server, transport, sockets);
}

export async function startServer(impl: Impl, transport: TransportKind): Promise<RunningServer> {
  switch (impl) {
    case 'wirecall':
      return startWirecallServer(transport);
    case 'grpc-js': {
      // Loaded only where needed: a wirecall child server never pays for grpc-js.
      const { startGrpcServer } = await import('./systems/grpc.js');
      return startGrpcServer(transport);
    }
    case 'raw':
      return startRawServer(transport);
  }
}

// ------------------------------------------------------------------ child processes

const CHILD_SCRIPT = fileURLToPath(new URL('./child-server.js', import.meta.url));
const live = new Set<ChildProcess>();

// Never leave a server process behind, whatever happens to us.
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Start `impl` in a separate Node process; resolves once it listens. */
export function spawnServer(impl: Impl, transport: TransportKind): Promise<RunningServer> {
  const child = fork(CHILD_SCRIPT, [impl, transport], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => live.delete(child));
  const ready = new Promise<string>((resolve, reject) => {
    child.once('message', (m: { type?: string; endpoint?: string; error?: string }) => {
      if (m.type === 'ready' && typeof m.endpoint === 'string') resolve(m.endpoint);
      else reject(new Error(`child server failed: ${m.error ?? JSON.stringify(m)}`));
    });
    child.once('exit', (code, signal) => reject(new Error(`child server exited early (code ${code}, signal ${signal})`)));
    child.once('error', reject);
  });
  return withTimeout(ready, 15_000, `starting the ${impl} child server`).then(
    (endpoint) => ({
      endpoint,
      close: async () => {
        if (child.exitCode === null && child.signalCode === null) {
          if (child.connected) child.send({ type: 'stop' });
          await withTimeout(exited, 3000, 'child server exit').catch(() => child.kill('SIGKILL'));
        }
      },
    }),
    (err: unknown) => {
      child.kill('SIGKILL');
      throw err;
    },
  );
}

/**
 * Starts each (impl, placement, transport) server once, on first use, and warms it up
 * (its JIT, its socket buffers) with `warmupMs` of pipelined echo calls before anyone
 * measures it; closes them all at the end of a group.
 */
export class ServerPool {
  private readonly servers = new Map<string, Promise<RunningServer>>();

  constructor(private readonly warmupMs = 0) {}

  /** The endpoint of the requested server, starting it if needed. */
  async endpoint(impl: Impl, placement: Placement, transport: TransportKind): Promise<string> {
    const key = `${impl}/${placement}/${transport}`;
    let server = this.servers.get(key);
    if (server === undefined) {
      server = (placement === 'child' ? spawnServer(impl, transport) : startServer(impl, transport)).then(async (running) => {
        await warmUp(impl, running.endpoint, this.warmupMs).catch(async (err: unknown) => {
          await running.close();
          throw err;
        });
        return running;
      });
      this.servers.set(key, server);
    }
    return (await server).endpoint;
  }

  async closeAll(): Promise<void> {
    const all = [...this.servers.values()];
    this.servers.clear();
    await Promise.all(all.map((s) => s.then((r) => r.close(), () => {})));
  }
}

async function warmUp(impl: Impl, endpoint: string, ms: number): Promise<void> {
  if (ms <= 0) return;
  const { openEchoClient } = await import('./clients.js');
  const client = await openEchoClient(impl, endpoint, { messageSize: 32 });
  try {
    const small = Buffer.alloc(32, 1);
    await closedLoop([() => client.call(small)], 16, { ms, maxOps: 10_000_000 });
  } finally {
    await client.close();
  }
}

/**
 * In a child server process: on the parent's `{type: 'stop'}` message or its
 * disconnect, close and exit, bounded to 2 s even if the close hangs.
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
