import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Daemon and NATS tests spawn processes; two cores do not take more at once.
    maxWorkers: 2,
  },
});
