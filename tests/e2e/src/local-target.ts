// The matrix against the local mesh: the whole system started as `pnpm dev`
// starts it (k8s/overlays/local: the base and the NetworkPolicies), on free
// ports, with its own CA and database in a temp folder.
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { evaluate } from '@docs-mesh/mesh'
import { type CurlResult, meshCurl } from '@docs-mesh/mesh/client'
import { startThrowawaySystem } from '@docs-mesh/mesh/system'
import { parsePrometheusText, rbacDeniedDetails } from '@docs-mesh/mesh/telemetry'
import type { Outcome, Reached, Target, Telemetry } from './target.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/** Short, so each dropped cell answers in a fraction of a second (three attempts). */
const CONNECT_TIMEOUT_MS = 50
/** How long a client without a sidecar waits on a dropped connection before it gives up. */
const OUTSIDE_CLIENT_TIMEOUT_MS = 500

const outcome = (r: CurlResult): Outcome => ({
  exitCode: r.exitCode,
  status: r.status,
  body: r.body,
  server: r.headers?.server as string | undefined,
})

export async function startLocalTarget(log: (line: string) => void = () => {}): Promise<Target> {
  const reached: Reached[] = []
  // Filled once the system is up; decisions come only after that.
  let sourceOf = (_principal: string | null): string => 'unknown'
  const system = await startThrowawaySystem({
    root: ROOT,
    log,
    onDecision: ({ workload, from, path, decision }) =>
      reached.push({
        workload,
        source: sourceOf(from),
        path,
        decision: decision.decision,
        ...(decision.decision === 'DENY' ? { rbacDetails: rbacDeniedDetails(decision) } : {}),
      }),
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
  })
  const ctx = { model: system.model, state: system.state, ca: system.ca }
  const gatewayWorkload = system.state.gateway?.workload ?? 'istio-ingressgateway'
  sourceOf = (principal) =>
    system.model.workloads.find((w) => w.principal === principal)?.name ??
    (principal?.endsWith('/sa/istio-ingressgateway-service-account') ? gatewayWorkload : 'unknown')
  const meshUrl = (service: string, port: number, path: string) =>
    `http://${service}.docs.svc.cluster.local:${port}${path}`
  const gatewayPrincipal = `${system.model.trustDomain}/ns/istio-system/sa/istio-ingressgateway-service-account`

  return {
    async meshCall(from, service, port, method, path) {
      reached.length = 0
      const result = await meshCurl(ctx, from, { method, url: meshUrl(service, port, path) })
      // The sidecars are processes: their decisions about this request are in once they flushed.
      await system.reportsSettled()
      return { ...outcome(result), reached: reached.splice(0) }
    },
    async refusedCall(from, service, port) {
      return outcome(
        await meshCurl({ ...ctx, timeoutMs: OUTSIDE_CLIENT_TIMEOUT_MS }, from, {
          method: 'GET',
          url: meshUrl(service, port, '/health'),
        }),
      )
    },
    async gatewayCall(method, path, host) {
      reached.length = 0
      const result = await meshCurl(ctx, 'ingress', {
        method,
        url: `${system.gatewayUrl}${path}`,
        headers: { accept: 'text/html', ...(host ? { host } : {}) },
      })
      await system.reportsSettled()
      return { ...outcome(result), reached: reached.splice(0) }
    },
    policyDecision(from, service, port, method, path) {
      const workload = system.model.workloads.find((w) => w.name === service)
      const caller = system.model.workloads.find((w) => w.name === from)
      if (!workload) throw new Error(`no workload ${service}`)
      const decision = evaluate(system.model.policies, {
        namespace: workload.namespace,
        labels: workload.labels,
        principal: from === 'ingress' ? gatewayPrincipal : (caller?.principal ?? null),
        sourceIp: '127.0.0.1',
        method,
        path,
        port,
        host: `${service}.docs.svc.cluster.local:${port}`,
        headers: {},
      })
      return decision.decision === 'ALLOW' ? 'allow' : 'deny'
    },
    async telemetry() {
      const proxies = [
        ...Object.entries(system.state.workloads).map(([name, w]) => ({ name, ...w })),
        ...(system.state.gateway ? [{ ...system.state.gateway, name: system.state.gateway.workload }] : []),
      ]
      const result: Telemetry = { samples: {}, accessLogs: {} }
      await Promise.all(
        proxies.map(async ({ name, statsUrl, accessLog }) => {
          if (statsUrl) result.samples[name] = parsePrometheusText(await (await fetch(statsUrl)).text())
          result.accessLogs[name] =
            accessLog && existsSync(accessLog)
              ? readFileSync(accessLog, 'utf8').split('\n').filter(Boolean)
              : []
        }),
      )
      return result
    },
    close: () => system.stop(),
  }
}
