/**
 * A real redis-server for a test file: started by the test (redis-server.ts: a free port,
 * no persistence, a temp dir), stopped after. `npm run setup:redis`
 * (scripts/setup-redis.sh) installs it. Without it, a test file is skipped with one line
 * saying so, except with CI=true, where it fails.
 */
import { expect } from 'vitest';
import { redisVersion } from './redis-server.js';

export { REDIS_SERVER, startRedis, startSentinel, type RedisServer } from './redis-server.js';

export const inCI = process.env.CI === 'true';

export interface RedisPeer {
  readonly installed: boolean;
  /** Run the file's tests: installed, or CI (where a missing server must fail them). */
  readonly run: boolean;
  requireInstalled(): void;
}

/** Is redis-server there? Prints the one skip line when it is not, outside CI. */
export function redisPeer(what: string): RedisPeer {
  const installed = redisVersion() !== undefined;
  const line = `${what}: needs redis-server; run \`npm run setup:redis\` first`;
  if (!installed && !inCI) process.stderr.write(`${line}\n`);
  return {
    installed,
    run: installed || inCI,
    requireInstalled(): void {
      if (!installed) expect.fail(`${line} (CI=true: redis-server must be installed)`);
    },
  };
}
