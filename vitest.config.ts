import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real PostgreSQL clusters; two cores cannot run many at once.
    fileParallelism: true,
    maxWorkers: 2,
    minWorkers: 1,
    // End-to-end failovers bring a whole cluster up, break it and wait for the outcome.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // The AWS SDK's Node 22 notice is noise in test output; it changes nothing.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
