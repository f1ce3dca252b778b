import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // End-to-end tests attach real uprobes; running files one after another
    // keeps probe counts and timings predictable on a 2-core machine.
    fileParallelism: false,
  },
});
