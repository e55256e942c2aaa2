/**
 * The `redis` package is an optional peer, loaded only when a Redis registry is used:
 * importing 'wirecall' or 'wirecall/manager' (compiled, by package name, in a fresh
 * node with a resolve hook reporting every module) resolves none of node-redis, and a
 * RedisRegistry given a URL resolves it on its first operation.
 */
import { execFile } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, buildIfStale } from '../../test-util/build.js';

const HOOKS = `
import { writeSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  writeSync(2, 'resolved ' + resolved.url + '\\n');
  return resolved;
}`;
const dataUrl = (source: string): string => `data:text/javascript,${encodeURIComponent(source)}`;
const REGISTER_HOOKS = `import { register } from 'node:module'; register(${JSON.stringify(dataUrl(HOOKS))});`;

/** The URLs resolved while `code` runs as a module in a fresh node in the package root. */
function resolvedBy(code: string): Promise<string[]> {
  const args = ['--import', dataUrl(REGISTER_HOOKS), '--input-type=module', '-e', code];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout: 20_000 }, (err, _stdout, stderr) => {
      if (err !== null) return reject(new Error(`${err.message}\n${stderr}`));
      resolve(stderr.split('\n').filter((l) => l.startsWith('resolved ')).map((l) => l.slice('resolved '.length)));
    });
  });
}

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
