import { defineConfig } from 'vitest/config';

/**
 * The netns suite (test/netns/): hosts as Linux network namespaces the tests make
 * themselves (root and iproute2), a Redis registry on one of them, services over mutual
 * TLS on others. Run by `npm run test:netns`. Its files run one after the other: each
 * makes its own namespaces and processes, and they share the machine's two cores.
 */
export default defineConfig({
  test: {
    include: ['test/netns/**/*.test.ts'],
    globalSetup: ['test/netns/support/global-setup.ts'],
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 20_000,
  },
});
