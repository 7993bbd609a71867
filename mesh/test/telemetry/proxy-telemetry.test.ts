// Istio's telemetry from the running proxies: the standard metrics each
// reporting proxy records (istio.io/latest/docs/reference/config/metrics/),
// served per workload at /stats/prometheus merged with the app's own, and
// one access-log line per request per proxy in Istio's default format, with
// Envoy's response flags and details (sources cited in src/telemetry/).
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts'
import { type CurlContext, meshCurl } from '../../src/client/mesh-curl.ts'
import { loadManifests } from '../../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'
import { type LocalMesh, startLocalMesh } from '../../src/runtime/local-mesh.ts'
import { ENVOY_DEFAULT_BUCKETS, HTTP_LABELS } from '../../src/telemetry/istio-metrics.ts'
import { parsePrometheusText, type Sample, samplesOf, sumOf } from '../../src/telemetry/prometheus-text.ts'
import { type EchoApps, startEchoApps } from '../fixtures/echo-apps.ts'

const model = buildMeshModel(
  loadManifests(fileURLToPath(new URL('../../../k8s/overlays/local', import.meta.url))),
)
const url = (service: string, port: number, path: string) =>
  `http://${service}.docs.svc.cluster.local:${port}${path}`
const SIGN = url('signing-api', 8001, '/sign')

describe('Istio telemetry from the local mesh', () => {
  let apps: EchoApps
  let appMetrics: Server
  let mesh: LocalMesh
  let ctx: CurlContext
  let gateway: string
  let logDir: string

  beforeAll(async () => {
    logDir = mkdtempSync(join(tmpdir(), 'mesh-telemetry-'))
    const ca = await CertificateAuthority.create()
    apps = await startEchoApps(model.workloads.map((w) => w.name))
    // signing-api's own metrics, on their own port (its pod's prometheus.io/port).
    appMetrics = createServer((req, res) => {
      if (req.url !== '/metrics') return void res.writeHead(404).end()
      res
        .writeHead(200, { 'content-type': 'text/plain' })
        .end('# TYPE app_signatures_total counter\napp_signatures_total 7\n')
    })
    appMetrics.listen(0, '127.0.0.1')
    await once(appMetrics, 'listening')
    mesh = await startLocalMesh({
      model,
      ca,
      appPorts: apps.ports,
      inboundPorts: 'ephemeral',
      gatewayPort: 0,
      hostAliases: { localhost: 'api.rossmck.dev' },
      connectTimeoutMs: 30,
      telemetry: {
        logDir,
        appMetricsPorts: { 'signing-api': (appMetrics.address() as AddressInfo).port },
      },
    })
    ctx = { model, state: mesh.state, ca, timeoutMs: 2_000 }
    gateway = `https://localhost:${mesh.state.gatewayPort}`
  })
  afterAll(async () => {
    await mesh?.close()
    await apps?.close()
    appMetrics?.closeAllConnections()
    appMetrics?.close()
    rmSync(logDir, { recursive: true, force: true })
  })

  const scrape = async (workload: string): Promise<{ text: string; samples: Sample[] }> => {
    const statsUrl =
      workload === 'istio-ingressgateway'
        ? mesh.state.gateway?.statsUrl
        : mesh.state.workloads[workload]?.statsUrl
    if (!statsUrl) throw new Error(`no stats for ${workload}`)
    const res = await fetch(statsUrl)
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    const text = await res.text()
    return { text, samples: parsePrometheusText(text) }
  }
  const logOf = (workload: string) => {
    try {
      return readFileSync(join(logDir, `${workload}.log`), 'utf8')
        .split('\n')
        .filter(Boolean)
    } catch {
      return []
    }
  }

  it('counts an allowed call once at the caller (source) and once at the destination, with Istio’s labels', async () => {
    const res = await meshCurl(ctx, 'bucket-api', { method: 'POST', url: SIGN, body: '{"a":1}' })
    expect(res.status).toBe(200)
    const edge = { source_workload: 'bucket-api', destination_workload: 'signing-api', response_code: '200' }
    await vi.waitFor(async () => {
      const { samples } = await scrape('bucket-api')
      expect(sumOf(samples, 'istio_requests_total', { ...edge, reporter: 'source' })).toBe(1)
    })
    const source = samplesOf((await scrape('bucket-api')).samples, 'istio_requests_total', edge)[0]
    // Every label Istio writes, in its order, with the values it gives them.
    expect(Object.keys(source?.labels ?? {})).toEqual([...HTTP_LABELS])
    expect(source?.labels).toMatchObject({
      reporter: 'source',
      source_workload_namespace: 'docs',
      source_principal: 'spiffe://cluster.local/ns/docs/sa/bucket-sa',
      source_app: 'bucket-api',
      source_canonical_service: 'bucket-api',
      source_canonical_revision: 'latest',
      destination_principal: 'spiffe://cluster.local/ns/docs/sa/signing-sa',
      destination_service: 'signing-api.docs.svc.cluster.local',
      destination_service_name: 'signing-api',
      destination_service_namespace: 'docs',
      request_protocol: 'http',
      response_flags: '-',
      connection_security_policy: 'unknown',
    })
    const { samples } = await scrape('signing-api')
    const destination = samplesOf(samples, 'istio_requests_total', { ...edge, reporter: 'destination' })
    expect(destination.map((s) => [s.value, s.labels.connection_security_policy])).toEqual([
      [1, 'mutual_tls'],
    ])
    // The request body, seen by both proxies.
    expect(sumOf(samples, 'istio_request_bytes_sum', { ...edge, reporter: 'destination' })).toBe(7)
  })

  it('keeps Envoy’s default histogram buckets for durations and sizes', async () => {
    const { samples } = await scrape('signing-api')
    for (const name of [
      'istio_request_duration_milliseconds',
      'istio_request_bytes',
      'istio_response_bytes',
    ]) {
      const first = samplesOf(samples, `${name}_bucket`, { reporter: 'destination' })
      const series = first.filter((s) => s.labels.response_code === first[0]?.labels.response_code)
      expect(series.map((s) => s.labels.le)).toEqual([...ENVOY_DEFAULT_BUCKETS.map(String), '+Inf'])
    }
  })

  it('merges the app’s own metrics after the proxy’s, as Istio’s agent does', async () => {
    const { text } = await scrape('signing-api')
    expect(text.indexOf('app_signatures_total 7')).toBeGreaterThan(text.indexOf('istio_requests_total'))
    // A workload whose app serves no metrics still has its proxy's.
    expect((await scrape('admin-api')).text).toContain('# TYPE istio_requests_total counter')
  })

  it('logs an RBAC denial at the destination with the policy Envoy names, and the 403 at the caller', async () => {
    const res = await meshCurl(ctx, 'bucket-api', { method: 'GET', url: SIGN })
    expect(res.status).toBe(403)
    await vi.waitFor(() =>
      expect(logOf('signing-api').filter((l) => l.includes('"GET /sign HTTP/1.1" 403'))).toHaveLength(1),
    )
    const line = logOf('signing-api').find((l) => l.includes('"GET /sign HTTP/1.1" 403')) ?? ''
    // No ALLOW rule of signing-api matched: Envoy's RBAC filter names no policy.
    expect(line).toMatch(
      /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "GET \/sign HTTP\/1\.1" 403 - rbac_access_denied_matched_policy\[none\] - "-" 0 19 \d+ - "-" "-" "[0-9a-f-]{36}" "signing-api\.docs\.svc\.cluster\.local:8001" "-" inbound\|8001\|\| - 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+ - default$/,
    )
    await vi.waitFor(() =>
      expect(logOf('bucket-api').some((l) => l.includes('"GET /sign HTTP/1.1" 403 - via_upstream'))).toBe(
        true,
      ),
    )
    const { samples } = await scrape('signing-api')
    expect(
      sumOf(samples, 'istio_requests_total', {
        reporter: 'destination',
        source_workload: 'bucket-api',
        response_code: '403',
      }),
    ).toBe(1)
  })

  it('logs the x-request-id the caller’s proxy generated in both proxies’ lines, so a callee’s line ties to its edge', async () => {
    // Envoy generates x-request-id at the first proxy when the request has none
    // (envoyproxy/envoy source/common/http/conn_manager_utility.cc, mutateRequestHeaders:
    // "Generate x-request-id for all edge requests, or if there is none"), before its
    // filters and its access log, and forwards it.
    const res = await meshCurl(ctx, 'bucket-api', {
      method: 'GET',
      url: url('signing-api', 8001, '/sign?rid'),
    })
    expect(res.status).toBe(403)
    const idIn = (workload: string) =>
      /"(?<id>[^"]*)" "signing-api\.docs\.svc\.cluster\.local:8001"/.exec(
        logOf(workload).find((l) => l.includes('"GET /sign?rid HTTP/1.1"')) ?? '',
      )?.groups?.id
    await vi.waitFor(() => {
      expect(idIn('bucket-api')).toMatch(/^[0-9a-f-]{36}$/)
      expect(idIn('signing-api')).toBe(idIn('bucket-api'))
    })
  })

  it('names a DENY policy and its rule as Istio’s RBAC builder does', async () => {
    const { rbacDeniedDetails } = await import('../../src/telemetry/proxy-telemetry.ts')
    expect(
      rbacDeniedDetails({ decision: 'DENY', policy: 'docs/block-admin', rule: 1, reason: '', shadow: [] }),
    ).toBe('rbac_access_denied_matched_policy[ns[docs]-policy[block-admin]-rule[1]]')
  })

  it('marks a connection the NetworkPolicies dropped UF,URX at the caller, which alone reports it', async () => {
    const res = await meshCurl(ctx, 'admin-api', { method: 'POST', url: SIGN })
    expect(res.status).toBe(503)
    await vi.waitFor(() =>
      expect(
        logOf('admin-api').filter((l) =>
          l.includes(
            '"POST /sign HTTP/1.1" 503 UF,URX upstream_reset_before_response_started{connection_timeout} - "-"',
          ),
        ),
      ).toHaveLength(1),
    )
    const { samples } = await scrape('admin-api')
    expect(
      sumOf(samples, 'istio_requests_total', {
        reporter: 'source',
        destination_workload: 'signing-api',
        response_code: '503',
        response_flags: 'UF,URX',
      }),
    ).toBe(1)
    expect(
      sumOf((await scrape('signing-api')).samples, 'istio_requests_total', { source_workload: 'admin-api' }),
    ).toBe(0)
  })

  it('logs the gateway’s no-route 404 as NR and reports its calls as source', async () => {
    const noRoute = await meshCurl(ctx, 'ingress', {
      method: 'GET',
      url: `${gateway}/verify/x`,
      headers: { host: 'other.example' },
    })
    expect(noRoute.status).toBe(404)
    const ok = await meshCurl(ctx, 'ingress', { method: 'GET', url: `${gateway}/verify/keys` })
    expect(ok.status).toBe(200)
    await vi.waitFor(() =>
      expect(
        logOf('istio-ingressgateway').some((l) =>
          l.includes('"GET /verify/x HTTP/1.1" 404 NR route_not_found'),
        ),
      ).toBe(true),
    )
    await vi.waitFor(async () => {
      const { samples } = await scrape('istio-ingressgateway')
      expect(
        sumOf(samples, 'istio_requests_total', {
          reporter: 'source',
          source_workload: 'istio-ingressgateway',
          source_workload_namespace: 'istio-system',
          destination_workload: 'verification-api',
          response_code: '200',
        }),
      ).toBe(1)
    })
    // The line is appended to the file after the metric is counted: wait for it too.
    await vi.waitFor(() => {
      const line =
        logOf('istio-ingressgateway').find((l) => l.includes('"GET /verify/keys HTTP/1.1" 200')) ?? ''
      expect(line).toContain(' outbound|8002||verification-api.docs.svc.cluster.local ')
    })
  })

  // Envoy's %BYTES_RECEIVED% is what arrived: a client that stops short of its content-length
  // and leaves sent less than it announced (the logs said 1000 for 10).
  it('logs the body bytes that arrived, not the content-length, for a client that leaves mid-body', async () => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: mesh.state.gatewayPort as number,
      servername: 'localhost',
      ca: ctx.ca.rootPem,
    })
    await once(socket, 'secureConnect')
    socket.write(
      'POST /verify HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n0123456789',
    )
    await new Promise((resolve) => setTimeout(resolve, 300))
    socket.destroy()
    const fields = (workload: string) =>
      logOf(workload)
        .find((l) => l.includes('"POST /verify HTTP/1.1" 0 DC'))
        ?.match(/ "-" (\d+) (\d+) \d+ /)
        ?.slice(1, 3)
    await vi.waitFor(() => expect(fields('istio-ingressgateway')).toEqual(['10', '0']))
    await vi.waitFor(() => expect(fields('verification-api')).toEqual(['10', '0']))
  })

  it('refuses a host outside the mesh by Istio’s block_all route', async () => {
    const res = await meshCurl(ctx, 'bucket-api', { method: 'GET', url: 'http://example.com/' })
    expect(res.status).toBe(502)
    await vi.waitFor(() =>
      expect(
        logOf('bucket-api').some((l) =>
          /"GET \/ HTTP\/1\.1" 502 - direct_response .* "example\.com" "-" BlackHoleCluster .* block_all$/.test(
            l,
          ),
        ),
      ).toBe(true),
    )
  })
})
