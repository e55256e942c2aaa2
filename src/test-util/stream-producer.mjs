// A server whose `flood` stream produces fresh 64 KiB chunks as fast as it is allowed to.
// Run from the compiled package: node --expose-gc stream-producer.mjs <unix socket path>
import { createServer } from '../../dist/src/index.js';

let produced = 0;
const server = createServer({ heartbeatInterval: 0 });
server.registerStream('flood', async function* (p) {
  for (;;) {
    produced++;
    yield Buffer.alloc(p.size, produced & 0xff);
  }
});
server.register('stats', () => {
  globalThis.gc?.();
  const m = process.memoryUsage();
  return { produced, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss };
});
const url = await server.listen(`unix:${process.argv[2]}`);
process.stdout.write(`listening on ${url}\n`);
