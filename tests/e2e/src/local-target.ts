// The matrix against the local mesh: the whole system started as `pnpm dev`
// starts it, on free ports, with its own CA and database in a temp folder.
import { fileURLToPath } from 'node:url'
import { type CurlResult, meshCurl } from '@docs-mesh/mesh/client'
import { startThrowawaySystem } from '@docs-mesh/mesh/system'
import type { Outcome, Reached, Target } from './target.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

const outcome = (r: CurlResult): Outcome => ({
  exitCode: r.exitCode,
  status: r.status,
  body: r.body,
  server: r.headers?.server as string | undefined,
})

export async function startLocalTarget(log: (line: string) => void = () => {}): Promise<Target> {
  const reached: Reached[] = []
  const system = await startThrowawaySystem({
    root: ROOT,
    log,
    onDecision: ({ workload, path }) => reached.push({ workload, path }),
  })
  const ctx = { model: system.model, state: system.state, ca: system.ca }
  const meshUrl = (service: string, port: number, path: string) =>
    `http://${service}.docs.svc.cluster.local:${port}${path}`

  return {
    async meshCall(from, service, port, method, path) {
      return outcome(await meshCurl(ctx, from, { method, url: meshUrl(service, port, path) }))
    },
    async refusedCall(from, service, port) {
      return outcome(await meshCurl(ctx, from, { method: 'GET', url: meshUrl(service, port, '/health') }))
    },
    async gatewayCall(method, path, host) {
      reached.length = 0
      const result = await meshCurl(ctx, 'ingress', {
        method,
        url: `${system.gatewayUrl}${path}`,
        headers: { accept: 'text/html', ...(host ? { host } : {}) },
      })
      return { ...outcome(result), reached: [...reached] }
    },
    close: () => system.stop(),
  }
}
