// Starts the console beside the mesh: loopback only, on its own port (0 for
// any free one), and records its URL in `<mesh-dir>/state.json` as
// `consoleUrl` once the mesh has written that file. The one hook `mesh dev`
// calls.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadManifests } from '../manifests/load-manifests.ts'
import { buildMeshModel, type MeshModel } from '../manifests/mesh-model.ts'
import { buildConsoleApp } from './console-app.ts'

/** Kiali's port: the console stands in for Kiali under `pnpm dev`. */
export const DEFAULT_CONSOLE_PORT = 20001
/** The page's build output in the workspace. */
export const CONSOLE_DIST = fileURLToPath(new URL('../../../console/dist/', import.meta.url))

export interface ConsoleOptions {
  meshDir: string
  /** The mesh model, or the manifests to build it from. */
  model?: MeshModel
  manifests?: string
  port: number
  staticDir?: string
  scrapeTimeoutMs?: number
}

export interface RunningConsole {
  url: string
  port: number
  /** Adds `consoleUrl` to `<mesh-dir>/state.json` (written by the mesh when it is up). */
  recordInState(): void
  close(): Promise<void>
}

export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const model =
    options.model ??
    (options.manifests
      ? buildMeshModel(loadManifests(options.manifests))
      : (() => {
          throw new Error('startConsole needs a model or manifests')
        })())
  const app = await buildConsoleApp({
    meshDir: options.meshDir,
    model,
    staticDir: options.staticDir ?? CONSOLE_DIST,
    scrapeTimeoutMs: options.scrapeTimeoutMs,
  })
  await app.listen({ host: '127.0.0.1', port: options.port })
  const port = (app.server.address() as AddressInfo).port
  const url = `http://localhost:${port}`
  return {
    url,
    port,
    recordInState() {
      const file = join(options.meshDir, 'state.json')
      if (!existsSync(file)) return
      const state = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
      // Written whole and renamed, so a reader (mesh curl) never sees half a file.
      writeFileSync(`${file}.tmp`, JSON.stringify({ ...state, consoleUrl: url }, null, 2))
      renameSync(`${file}.tmp`, file)
    },
    close: () => app.close(),
  }
}
