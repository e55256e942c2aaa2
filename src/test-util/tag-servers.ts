/** In-process servers that say who they are, and a manager with such servers registered. */
import path from 'node:path';
import { createServer, type Server } from '../rpc/server.js';
import type { TransportManagerOptions } from '../manager/options.js';
import { TransportManager } from '../manager/transport-manager.js';
import type { Scratch } from './scratch.js';

/**
 * An in-process server with `whoami` (returns `tag`), `echo`, `sleep` ({ms}), the
 * server stream `count` ({n}) and the client stream `sum`, listening on `endpoint`.
 * Returns the bound endpoint.
 */
export async function tagServer(scratch: Scratch, tag: string, endpoint: string): Promise<{ server: Server; endpoint: string }> {
  const server = scratch.server(createServer({ name: tag, heartbeatInterval: 1000 }));
  server.register('whoami', () => tag);
  server.register('echo', (params: unknown) => params);
  server.registerStream('count', async function* ({ n }: { n: number }) {
    for (let i = 0; i < n; i++) yield `${tag}:${i}`;
  });
  server.registerClientStream('sum', async (messages: AsyncIterable<number>) => {
    let total = 0;
    for await (const m of messages) total += m;
    return total;
  });
  server.register(
    'sleep',
    ({ ms }: { ms: number }, ctx) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => resolve(ms), ms);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(ctx.signal.reason);
        });
      }),
  );
  return { server, endpoint: await server.listen(endpoint) };
}

/**
 * A manager on a fresh registry with one registered 'maya' server (tagServer) per tag.
 * The manager joins `managers`, which the test file shuts down after each test.
 */
export async function managedServers(scratch: Scratch, managers: TransportManager[], options: TransportManagerOptions, tags = ['one']) {
  const dir = scratch.dir();
  const manager = new TransportManager({ registryDir: dir, ...options });
  managers.push(manager);
  const servers = [];
  for (const tag of tags) {
    const s = await tagServer(scratch, tag, `unix:${path.join(dir, `${tag}.sock`)}`);
    const instanceId = await manager.registerService('maya', s.endpoint);
    servers.push({ ...s, instanceId, tag });
  }
  return { manager, servers, dir };
}
