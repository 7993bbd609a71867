// Telemetry from `mesh sidecar` processes, as one Envoy and its pilot-agent
// publish it per pod: the stats port in the process's report, Istio's metrics
// merged with the app's own and the agent's gauges at /stats/prometheus, and
// the access log at the file the process was given, with the caller's
// generated x-request-id in both proxies' lines.
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type RunningControlPlane, startControlPlane } from '../../src/control-plane/control-plane.ts'
import { tokenFile } from '../../src/control-plane/tokens.ts'
import { PORTS_LINE } from '../../src/runtime/proxy-agent.ts'
import { type RunningSidecarProcess, runSidecar } from '../../src/runtime/sidecar-process.ts'
import { parsePrometheusText, sumOf } from '../../src/telemetry/prometheus-text.ts'
import { type EchoApps, startEchoApps } from '../fixtures/echo-apps.ts'

const BASE = fileURLToPath(new URL('../../../k8s/base', import.meta.url))
const WORKLOADS = ['bucket-api', 'signing-api'] as const

describe('mesh sidecar telemetry', () => {
  let dir: string
  let cp: RunningControlPlane
  let apps: EchoApps
  let appMetrics: Server
  const sidecars: Record<string, RunningSidecarProcess> = {}
  const reported: Record<string, string[]> = {}
  const logOf = (workload: string) => join(dir, 'logs', `${workload}.log`)
  const linesOf = (workload: string) => {
    try {
      return readFileSync(logOf(workload), 'utf8').split('\n').filter(Boolean)
    } catch {
      return []
    }
  }
  const scrape = async (workload: string) =>
    (await fetch(`http://127.0.0.1:${sidecars[workload]?.ports.stats}/stats/prometheus`)).text()

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mesh-sidecar-telemetry-'))
    cp = await startControlPlane({ manifests: BASE, meshDir: join(dir, 'mesh'), port: 0, log: () => {} })
    apps = await startEchoApps([...WORKLOADS])
    // signing-api's own metrics, on their own port (its pod's prometheus.io/port).
    appMetrics = createServer((req, res) => {
      if (req.url !== '/metrics') return void res.writeHead(404).end()
      res
        .writeHead(200, { 'content-type': 'text/plain' })
        .end('# TYPE app_signatures_total counter\napp_signatures_total 7\n')
    })
    appMetrics.listen(0, '127.0.0.1')
    await once(appMetrics, 'listening')
    for (const workload of WORKLOADS) {
      reported[workload] = []
      sidecars[workload] = await runSidecar({
        workload,
        controlPlane: cp.url,
        tokenFile: tokenFile(join(dir, 'mesh'), workload),
        rootCertFile: join(dir, 'mesh', 'ca', 'root.pem'),
        appPort: apps.ports[workload] as number,
        advertiseAddress: '127.0.0.1',
        inboundPorts: 'ephemeral',
        outboundPort: 0,
        healthPort: 0,
        statsPort: 0,
        accessLog: logOf(workload),
        ...(workload === 'signing-api' ? { appMetricsPort: (appMetrics.address() as AddressInfo).port } : {}),
        reportDecisions: false,
        exitOnStdinClose: false,
        out: (line) => reported[workload]?.push(line),
        log: () => {},
      })
    }
  }, 60_000)

  afterAll(async () => {
    for (const s of Object.values(sidecars)) await s.close()
    await apps?.close()
    appMetrics?.closeAllConnections()
    appMetrics?.close()
    await cp?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  /** As an app's HTTP_PROXY sends it: the absolute URL in the request line, no x-request-id of its own. */
  const callSigning = (method: string, path: string) =>
    new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: sidecars['bucket-api']?.ports.outbound,
          method,
          path: `http://signing-api.docs.svc.cluster.local:8001${path}`,
          headers: { host: 'signing-api.docs.svc.cluster.local:8001' },
          agent: false,
        },
        (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
        },
      )
      req.on('error', reject)
      req.end()
    })

  it('reports its stats port in its mesh-ports line and serves Istio’s metrics, the app’s and the agent’s there', async () => {
    const line = reported['signing-api']?.find((l) => l.startsWith(PORTS_LINE)) ?? ''
    expect(JSON.parse(line.slice(PORTS_LINE.length)).stats).toBe(sidecars['signing-api']?.ports.stats)
    // bucket-api may not GET /sign: signing-api's sidecar answers 403 (RBAC).
    expect(await callSigning('GET', '/sign')).toBe(403)
    const edge = { source_workload: 'bucket-api', destination_workload: 'signing-api', response_code: '403' }
    await vi.waitFor(async () => {
      const caller = parsePrometheusText(await scrape('bucket-api'))
      expect(sumOf(caller, 'istio_requests_total', { ...edge, reporter: 'source' })).toBe(1)
    })
    const text = await scrape('signing-api')
    expect(
      sumOf(parsePrometheusText(text), 'istio_requests_total', { ...edge, reporter: 'destination' }),
    ).toBe(1)
    // The app's own metrics and the agent's gauges, in the same scrape.
    expect(text).toContain('app_signatures_total 7')
    expect(text).toMatch(/mesh_proxy_config_version\{workload="signing-api"\} \d+/)
  })

  it('writes each proxy’s access log where it was told, one call tied by the caller’s x-request-id', async () => {
    expect(await callSigning('GET', '/sign?tied')).toBe(403)
    const idIn = (workload: string) =>
      /"(?<id>[^"]*)" "signing-api\.docs\.svc\.cluster\.local:8001"/.exec(
        linesOf(workload).find((l) => l.includes('"GET /sign?tied HTTP/1.1" 403')) ?? '',
      )?.groups?.id
    await vi.waitFor(() => {
      expect(idIn('bucket-api')).toMatch(/^[0-9a-f-]{36}$/)
      expect(idIn('signing-api')).toBe(idIn('bucket-api'))
    })
    expect(linesOf('signing-api').find((l) => l.includes('/sign?tied'))).toContain(
      'rbac_access_denied_matched_policy[none]',
    )
  })
})
