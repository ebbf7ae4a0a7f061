import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // ffi-rs segfaults when a worker thread that loaded it exits (FINDINGS): forks only.
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Real-process tests are timing-sensitive on 2 cores; keep parallelism modest.
    maxWorkers: 2,
  },
});
