import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One story across several browsers, step by step: each step waits on what a person would see.
    testTimeout: 120_000,
    // Each file starts a whole system: one at a time on two cores.
    fileParallelism: false,
    // Starting the whole system (six apps, sidecars, gateway) takes a while on two cores.
    hookTimeout: 240_000,
    // A page answers when the machine gets to it: on two busy cores a sign-in
    // redirect chain can take seconds, so polls wait for what a person would
    // wait for instead of vitest's 1 s default.
    expect: { poll: { timeout: 30_000, interval: 100 } },
  },
})
