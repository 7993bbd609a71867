import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests run in a new order each time, so none can lean on what an earlier one left;
    // the seed is printed at the start, and --sequence.seed=<seed> replays an order.
    sequence: { shuffle: true },
  },
})
