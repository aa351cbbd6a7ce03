import { defineConfig } from 'vitest/config';

/**
 * Files that load the whole machine (spawning promedic hundreds of times, a 60 s soak with the
 * demo app under load) run on their own after the rest, so tests that watch machine-wide CPU
 * (test/monitor/cpu-load.test.ts) never share the machine with them.
 */
const HEAVY = ['test/reliability/crash.test.ts', 'test/reliability/soak.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests start real processes and servers; two cores are plenty busy with two files at a time.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: HEAVY, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'heavy', include: HEAVY, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
