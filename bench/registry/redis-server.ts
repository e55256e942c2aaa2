/**
 * A throwaway redis-server for the registry bench: started on a free loopback port (a
 * registry shared by hosts is reached over TCP, so that is what is measured) with no
 * persistence and a temp dir, stopped after (src/test-util/redis-server.ts, the tests'
 * starter too), with a node-redis client for reading the server's own figures.
 */
import { createClient } from 'redis';
import { REDIS_SERVER, redisVersion, startRedis as startRedisServer } from '../../src/test-util/redis-server.js';

export { redisVersion } from '../../src/test-util/redis-server.js';

const adminClient = (url: string) => createClient({ url });
export type AdminClient = ReturnType<typeof adminClient>;

export interface BenchRedis {
  readonly port: number;
  readonly url: string;
  readonly version: string;
  /** A plain node-redis client for INFO, MEMORY USAGE, FLUSHALL (not the registry's). */
  readonly admin: AdminClient;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<BenchRedis> {
  const version = redisVersion();
  if (version === undefined) throw new Error(`${REDIS_SERVER} not found: run \`npm run setup:redis\` (or set WIRECALL_REDIS_SERVER)`);
  // A bench that dies on an uncaught error must not leave its server running.
  const server = await startRedisServer([], { dirPrefix: 'wirecall-bench-redis-', killAtExit: true });
  const admin = adminClient(server.url);
  admin.on('error', () => undefined); // the server is stopped under it at the end
  await admin.connect();
  return {
    port: server.port,
    url: server.url,
    version,
    admin,
    stop: async () => {
      admin.destroy();
      await server.stop();
    },
  };
}

/** INFO <section> as a map of field → value. */
export async function info(admin: AdminClient, section: string): Promise<Map<string, string>> {
  const text = String(await admin.sendCommand(['INFO', section]));
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

/** Seconds of CPU the server has used (user + sys), for its utilisation over a run. */
export async function serverCpuSeconds(admin: AdminClient): Promise<number> {
  const cpu = await info(admin, 'cpu');
  return Number(cpu.get('used_cpu_user') ?? 0) + Number(cpu.get('used_cpu_sys') ?? 0);
}

export async function usedMemory(admin: AdminClient): Promise<number> {
  return Number((await info(admin, 'memory')).get('used_memory') ?? 0);
}

/** MEMORY USAGE of a key with every element counted (SAMPLES 0). */
export async function memoryUsage(admin: AdminClient, key: string): Promise<number> {
  return Number((await admin.sendCommand(['MEMORY', 'USAGE', key, 'SAMPLES', '0'])) ?? 0);
}
