import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Files share one worker's loaded modules instead of each loading them
    // again: on two cores that halves a package's run (identity-api: 73 s to
    // 41 s). A test leaning on another file's leftovers would show up under
    // the shuffled order.
    isolate: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests run in a new order each time, so none can lean on what an earlier one left;
    // the seed is printed at the start, and --sequence.seed=<seed> replays an order.
    sequence: { shuffle: true },
  },
})
