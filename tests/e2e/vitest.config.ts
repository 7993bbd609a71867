import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    // Starting the whole system (six apps, sidecars, gateway) takes a while on two cores.
    hookTimeout: 240_000,
  },
})
