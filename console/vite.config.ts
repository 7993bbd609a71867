import { defineConfig } from 'vite'

export default defineConfig({
  // Served under the console's own origin by mesh/src/console (@fastify/static).
  build: { outDir: 'dist', assetsDir: 'assets', emptyOutDir: true },
})
