import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One story across several browsers, step by step: each step waits on what a person would see.
    testTimeout: 120_000,
    // Starting the whole system (six apps, sidecars, gateway) takes a while on two cores.
    hookTimeout: 240_000,
  },
})
