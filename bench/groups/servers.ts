/**
 * The servers the extra groups talk to, in this process or in a child process, started
 * once per group: `echo` returns its argument unchanged (wirecall, the grpc-js
 * `EchoBytes` method, the raw-bytes socket); the wirecall server also counts `tick`
 * notifications.
 */
import { closedLoop } from '../lib/loops.js';
import type { Listener, TransportKind } from '../lib/sockets.js';
import { startServerProcess, startSystemServer, type ServerName } from '../systems/index.js';
import { openEchoClient, type Impl } from './echo.js';

/** Where the server runs: a separate Node process, or the benchmark's own event loop. */
export type Placement = 'child' | 'in-process';

/** The server that answers each impl's calls. */
const SERVER: Record<Impl, ServerName> = { wirecall: 'wirecall', 'grpc-js': 'grpc-js', raw: 'raw-bytes' };

/**
 * Starts each (impl, placement, transport) server once, on first use, and warms it up
 * (its JIT, its socket buffers) with `warmupMs` of pipelined echo calls before anyone
 * measures it; closes them all at the end of a group.
 */
export class ServerPool {
  private readonly servers = new Map<string, Promise<Listener>>();

  constructor(private readonly warmupMs = 0) {}

  /** The endpoint of the requested server, starting it if needed. */
  async endpoint(impl: Impl, placement: Placement, transport: TransportKind): Promise<string> {
    const key = `${impl}/${placement}/${transport}`;
    let server = this.servers.get(key);
    if (server === undefined) {
      const start = placement === 'child' ? startServerProcess : startSystemServer;
      server = start(SERVER[impl], transport).then(async (running) => {
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
  const client = await openEchoClient(impl, endpoint, { messageSize: 32 });
  try {
    const small = Buffer.alloc(32, 1);
    await closedLoop([() => client.call(small)], 16, { ms, maxOps: 10_000_000 });
  } finally {
    await client.close();
  }
}
