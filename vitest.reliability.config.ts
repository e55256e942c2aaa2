import { defineConfig } from 'vitest/config';

/**
 * The reliability suite (test/reliability/): real processes and sockets, hostile peers
 * against a server in a child process. Run by `npm run test:reliability`. Its files
 * run one after the other: they measure latency and memory on a shared machine.
 */
export default defineConfig({
  test: {
    include: ['test/reliability/**/*.test.ts'],
    globalSetup: ['test/reliability/support/global-setup.ts'],
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 20_000,
  },
});
