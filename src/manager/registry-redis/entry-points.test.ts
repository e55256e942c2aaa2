/**
 * The `redis` package is an optional peer, loaded only when a Redis registry is used:
 * importing 'wirecall' or 'wirecall/manager' (compiled, by package name, in a fresh
 * node with a resolve hook reporting every module) resolves none of node-redis, and a
 * RedisRegistry given a URL resolves it on its first operation.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { buildIfStale } from '../../test-util/build.js';
import { resolvedBy } from '../../test-util/node-hooks.js';

const NODE_REDIS = /\/node_modules\/(redis|@redis\/[^/]+)\//;

beforeAll(buildIfStale, 120_000);

describe('node-redis is loaded only when a Redis registry is used', () => {
  it("'wirecall' and 'wirecall/manager' load none of it", async () => {
    for (const specifier of ['wirecall', 'wirecall/manager']) {
      const urls = await resolvedBy(`await import(${JSON.stringify(specifier)});`);
      expect(urls.length).toBeGreaterThan(0);
      expect(urls.filter((u) => NODE_REDIS.test(u))).toEqual([]);
    }
  });

  it('a TransportManager made with a redis:// URL loads it on its first registry operation', async () => {
    const code = `
      const { TransportManager } = await import('wirecall/manager');
      const m = new TransportManager({ registry: 'redis://127.0.0.1:1', cleanupInterval: 0, onWarning() {} });
      await m.listAllServices().catch(() => undefined);
      await m.shutdown();`;
    const urls = await resolvedBy(code);
    expect(urls).toContainEqual(expect.stringMatching(/\/node_modules\/redis\//));
  });
});
