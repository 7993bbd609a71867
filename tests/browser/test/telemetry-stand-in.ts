// Stands in for the proxies' own telemetry (issue 14, items 1 and 2) where
// the running mesh does not publish it yet: for each call the test makes, it
// records what Istio's proxies would report (istio_requests_total and
// istio_request_duration_milliseconds with Istio's labels and buckets, at a
// /stats/prometheus URL per workload listed in state.json as `statsUrl`, and
// a line in Istio's default access-log format in <mesh-dir>/logs/). When the
// mesh's state.json already lists a statsUrl, the mesh publishes its own and
// this steps aside: the console then shows what the proxies themselves saw.
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'

/** Envoy's default histogram buckets (HistogramSettingsImpl::defaultBuckets, source/common/stats/histogram_impl.cc), which istio_request_duration_milliseconds keeps. */
const BUCKETS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
]

export interface ObservedCall {
  /** source_workload: the caller's workload, or istio-ingressgateway. */
  from: string
  to: string
  method: string
  path: string
  authority: string
  status: number
  durationMs: number
  /** The caller's connect attempts timed out: only the caller's proxy reports it (503, UF). */
  dropped: boolean
  /** For an RBAC denial, the policy id Envoy names (`ns[docs]-policy[x]-rule[0]`), or `none`. */
  rbacPolicy?: string
}

export interface TelemetryStandIn {
  active: boolean
  record(call: ObservedCall): void
  close(): Promise<void>
}

type Series = {
  reporter: 'source' | 'destination'
  from: string
  to: string
  code: number
  flags: string
  durations: number[]
}

export async function telemetryStandIn(meshDir: string): Promise<TelemetryStandIn> {
  const stateFile = join(meshDir, 'state.json')
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as {
    workloads: Record<string, { statsUrl?: string; namespace: string }>
  }
  if (Object.values(state.workloads).some((w) => w.statsUrl))
    return { active: false, record: () => {}, close: async () => {} }

  const logDir = join(meshDir, 'logs')
  mkdirSync(logDir, { recursive: true })
  const series = new Map<string, Series>()
  const servers: Server[] = []
  const exposition = (workload: string) => {
    const lines = [
      '# TYPE istio_requests_total counter',
      '# TYPE istio_request_duration_milliseconds histogram',
    ]
    for (const s of series.values()) {
      if ((s.reporter === 'destination' ? s.to : s.from) !== workload) continue
      const labels = [
        `reporter="${s.reporter}"`,
        `source_workload="${s.from}"`,
        `source_workload_namespace="${s.from === 'istio-ingressgateway' ? 'istio-system' : 'docs'}"`,
        `destination_workload="${s.to}"`,
        'destination_workload_namespace="docs"',
        `destination_service="${s.to}.docs.svc.cluster.local"`,
        'request_protocol="http"',
        `response_code="${s.code}"`,
        `response_flags="${s.flags}"`,
        `connection_security_policy="${s.reporter === 'destination' ? 'mutual_tls' : 'unknown'}"`,
      ].join(',')
      lines.push(`istio_requests_total{${labels}} ${s.durations.length}`)
      for (const le of BUCKETS)
        lines.push(
          `istio_request_duration_milliseconds_bucket{${labels},le="${le}"} ${s.durations.filter((d) => d <= le).length}`,
        )
      lines.push(`istio_request_duration_milliseconds_bucket{${labels},le="+Inf"} ${s.durations.length}`)
    }
    return `${lines.join('\n')}\n`
  }
  for (const [name, workload] of Object.entries(state.workloads)) {
    const server = createServer((_req, res) => {
      res.setHeader('content-type', 'text/plain; version=0.0.4')
      res.end(exposition(name))
    })
    servers.push(server)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    workload.statsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/stats/prometheus`
  }
  writeFileSync(stateFile, JSON.stringify(state, null, 2))

  let n = 0
  return {
    active: true,
    record(call) {
      const flags = call.dropped ? 'UF,URX' : '-'
      const durationMs = Math.round(call.durationMs)
      const count = (reporter: 'source' | 'destination') => {
        const key = [reporter, call.from, call.to, call.status, flags].join('|')
        const s = series.get(key) ?? {
          reporter,
          from: call.from,
          to: call.to,
          code: call.status,
          flags,
          durations: [],
        }
        s.durations.push(call.durationMs)
        series.set(key, s)
      }
      // The caller's outbound proxy sees every request it sends; the gateway's identity used directly has none.
      const callerProxy = call.from !== 'istio-ingressgateway'
      // Envoy's first proxy generates x-request-id; the callee's sidecar logs the same id.
      const requestId = `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`
      const [host, port] = call.authority.split(':')
      const line = (code: number, details: string, cluster: string) =>
        `[${new Date().toISOString()}] "${call.method} ${call.path} HTTP/1.1" ${code} ${flags} ${details} - "-" 0 0 ${durationMs} - "-" "console-browser-test" "${requestId}" "${call.authority}" "-" ${cluster} - 127.0.0.1:0 127.0.0.1:0 - default\n`
      if (callerProxy) {
        count('source')
        const details = call.dropped
          ? 'upstream_reset_before_response_started{connection_timeout}'
          : 'via_upstream'
        appendFileSync(
          join(logDir, `${call.from}.log`),
          line(call.status, details, `outbound|${port}||${host}`),
        )
      }
      if (!call.dropped) {
        count('destination')
        const details = call.rbacPolicy
          ? `rbac_access_denied_matched_policy[${call.rbacPolicy}]`
          : 'via_upstream'
        appendFileSync(join(logDir, `${call.to}.log`), line(call.status, details, `inbound|${port}||`))
      }
    },
    async close() {
      for (const s of servers) await new Promise<void>((r) => s.close(() => r()))
    },
  }
}
