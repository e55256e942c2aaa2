/**
 * Entry point of a benchmark server in its own process, so that client and server do
 * not share an event loop. Started by servers.ts with `fork(child-server.js, [impl, transport])`.
 *
 * IPC: the child sends `{ type: 'ready', endpoint }` once it listens (or
 * `{ type: 'error', error }`); the parent sends `{ type: 'stop' }`. The child also exits
 * when the IPC channel goes away, so a crashed parent leaves nothing behind.
 */
import type { Impl } from './harness.js';
import type { TransportKind } from './lib/sockets.js';
import { exitWhenParentStops, startServer, type RunningServer } from './servers.js';

const IMPLS: readonly string[] = ['wirecall', 'grpc-js', 'raw'];
const TRANSPORTS: readonly string[] = ['tcp', 'unix'];

async function main(): Promise<void> {
  const [impl, transport] = process.argv.slice(2);
  if (process.send === undefined) {
    console.error('child-server.js is started by the benchmark (bench/run.ts), not by hand');
    process.exit(2);
  }
  if (!IMPLS.includes(impl ?? '') || !TRANSPORTS.includes(transport ?? '')) {
    process.send({ type: 'error', error: `usage: child-server.js <${IMPLS.join('|')}> <tcp|unix>` });
    process.exit(2);
  }
  let server: RunningServer;
  try {
    server = await startServer(impl as Impl, transport as TransportKind);
  } catch (err) {
    process.send({ type: 'error', error: String((err as Error)?.stack ?? err) });
    process.exit(1);
  }
  exitWhenParentStops(() => server.close());
  process.send({ type: 'ready', endpoint: server.endpoint });
}

void main();
