/**
 * wirecall: `echo`, the two server streams (`registerStream` with an async generator; the
 * caller reads them with `for await (const m of conn.stream(...))`, default stream
 * window), `hold`/`release`/`held`/`heap` for the memory probe (calls that stay pending
 * until released), and `tick` notifications counted for the notify group (`ticks` reads
 * the count, `resetTicks` zeroes it).
 */
import { connect, createServer, type Connection } from '../../src/index.js';
import { withTimeout } from '../lib/loops.js';
import type { TransportKind } from '../lib/sockets.js';
import { benchCerts } from '../lib/tls.js';
import { CHUNK, PARAMS, smallMessage, type ServerOptions, type SystemClient, type SystemServer } from './common.js';

export async function startWirecallServer(transport: TransportKind, options: ServerOptions = {}): Promise<SystemServer> {
  const server = createServer({
    name: 'bench-server',
    ...(transport === 'tls' ? { tls: { ...benchCerts().server, ca: benchCerts().ca, requestCert: true } } : {}),
    ...(options.maxConcurrentCalls === undefined ? {} : { maxConcurrentCalls: options.maxConcurrentCalls }),
  });
  server.register('echo', (params: unknown) => params);
  let ticks = 0;
  server.register('tick', () => {
    ticks++;
  });
  server.register('ticks', () => ticks);
  server.register('resetTicks', () => {
    ticks = 0;
    return true;
  });
  // Memory test: every `hold` call stays pending until `release`.
  let held: (() => void)[] = [];
  server.register('hold', () => new Promise<void>((resolve) => held.push(resolve)));
  server.register('held', () => held.length);
  server.register('release', () => {
    const all = held;
    held = [];
    for (const resolve of all) resolve();
    return all.length;
  });
  server.register('heap', () => {
    (globalThis as { gc?: () => void }).gc?.();
    return process.memoryUsage().heapUsed;
  });
  server.registerStream('small', async function* ({ count }: { count: number }) {
    for (let seq = 0; seq < count; seq++) yield smallMessage(seq);
  });
  server.registerStream('chunks', async function* ({ count }: { count: number }) {
    for (let i = 0; i < count; i++) yield CHUNK;
  });
  const endpoint = await server.listen(transport === 'unix' ? undefined : `${transport}://127.0.0.1:0`);
  return {
    endpoint,
    close: () => withTimeout(server.close({ drainTimeout: 500 }), 3000, 'wirecall server close').catch(() => {}),
  };
}

export async function openWirecallClient(endpoint: string): Promise<SystemClient & { conn: Connection }> {
  const tls = endpoint.startsWith('tls:') ? { tls: { ...benchCerts().client, ca: benchCerts().ca, servername: 'localhost' } } : {};
  const conn = await connect(endpoint, { name: 'bench-client', ...tls });
  return {
    conn,
    unary: () => conn.call('echo', PARAMS),
    stream: async (kind, count) => {
      let n = 0;
      for await (const _ of conn.stream(kind, { count })) n++;
      return n;
    },
    close: async () => {
      await Promise.race([conn.close({ drainTimeout: 500 }), new Promise((r) => setTimeout(r, 2000))]);
      if (conn.state !== 'closed') conn.destroy();
    },
  };
}
