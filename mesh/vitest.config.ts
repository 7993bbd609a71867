import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Files share one worker's loaded modules instead of each loading them
    // again, as in the other packages (docs/testing.md, CI time).
    isolate: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
