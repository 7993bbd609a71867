// The console's API against the real manifests (k8s/overlays/local) and
// fixtures in Istio's formats: Prometheus text as a sidecar's
// /stats/prometheus serves it (served by real servers on port 0) and access
// log lines in Istio's default format.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildConsoleApp } from '../../src/console/console-app.ts'
import { loadManifests } from '../../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url))
const MANIFESTS = fileURLToPath(new URL('../../../k8s/overlays/local', import.meta.url))
const model = buildMeshModel(loadManifests(MANIFESTS))
const HOST = { host: 'localhost:20001' }

let dir: string
let app: FastifyInstance
const servers: Server[] = []

async function serve(body: string): Promise<string> {
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'text/plain; version=0.0.4')
    res.end(body)
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/stats/prometheus`
}

const get = (url: string) => app.inject({ url, headers: HOST })

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'console-app-'))
  const { readFileSync } = await import('node:fs')
  const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8')
  // A proxy that is down: a port nothing listens on any more.
  const gone = createServer()
  await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r))
  const goneUrl = `http://127.0.0.1:${(gone.address() as AddressInfo).port}/stats/prometheus`
  await new Promise<void>((r) => gone.close(() => r()))
  writeFileSync(
    join(dir, 'state.json'),
    JSON.stringify({
      workloads: {
        'signing-api': { statsUrl: await serve(fixture('signing-api.prom')) },
        'bucket-api': { statsUrl: await serve(fixture('bucket-api.prom')) },
        frontend: { statsUrl: await serve(fixture('frontend.prom')) },
        'admin-api': { statsUrl: goneUrl },
      },
    }),
  )
  mkdirSync(join(dir, 'logs'))
  copyFileSync(join(FIXTURES, 'signing-api.access-log.txt'), join(dir, 'logs', 'signing-api.log'))
  copyFileSync(join(FIXTURES, 'frontend.access-log.txt'), join(dir, 'logs', 'frontend.log'))
  mkdirSync(join(dir, 'dist'))
  writeFileSync(join(dir, 'dist', 'index.html'), '<!doctype html><title>docs-mesh console</title>')
  app = await buildConsoleApp({ meshDir: dir, model, staticDir: join(dir, 'dist'), scrapeTimeoutMs: 1_000 })
})

afterAll(async () => {
  await app?.close()
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()))
  rmSync(dir, { recursive: true, force: true })
})

describe('the graph', () => {
  it('has an edge per caller the policies allow, with the rule and the network verdict', async () => {
    const res = await get('/api/graph')
    expect(res.statusCode).toBe(200)
    const graph = res.json() as {
      nodes: Array<{ id: string; column: number }>
      edges: Array<{
        from: string
        to: string
        policy: string
        rule: number
        network: { verdict: string } | null
      }>
      sources: string[]
    }
    const toSigning = graph.edges.filter((e) => e.to === 'signing-api')
    expect(toSigning.map((e) => [e.from, e.policy, e.rule])).toEqual([
      ['bucket-api', 'docs/signing-api', 0],
      ['identity-api', 'docs/signing-api', 0],
      ['any caller', 'docs/signing-api', 1],
    ])
    expect(toSigning[0]?.network?.verdict).toBe('ALLOW')
    // signing-api is called only through bucket-api and identity-api: it sits right of both.
    const column = (id: string) => graph.nodes.find((n) => n.id === id)?.column ?? -1
    expect(column('istio-ingressgateway')).toBeLessThan(column('bucket-api'))
    expect(column('identity-api')).toBeLessThan(column('signing-api'))
    expect(graph.sources).toEqual(expect.arrayContaining(['bucket-api', 'istio-ingressgateway', 'outside']))
  })
})

describe('why', () => {
  it('answers an allowed request with the deciding rule highlighted in the policy text', async () => {
    const res = await get('/api/why?from=identity-api&to=signing-api&method=POST&path=/sign')
    expect(res.statusCode).toBe(200)
    const why = res.json()
    expect(why.outcome).toBe('allowed')
    expect(why.l7).toMatchObject({ decision: 'ALLOW', policy: 'docs/signing-api', rule: 0 })
    const [text] = why.l7.policies
    const lines = (text.yaml as string).split('\n')
    const highlighted = lines.slice(text.highlight.from - 1, text.highlight.to).join('\n')
    // Rule 0 is the principals and POST /sign; rule 1 (the health checks) is not highlighted.
    expect(highlighted).toMatch(/^ {4}- from:/)
    expect(highlighted).toContain('cluster.local/ns/docs/sa/identity-sa')
    expect(highlighted).toContain('- /sign')
    expect(highlighted).not.toContain('/health')
    expect(why.network).toMatchObject({ verdict: 'ALLOW' })
  })

  it('answers an RBAC denial with every ALLOW policy that applies, none matching', async () => {
    const why = (await get('/api/why?from=istio-ingressgateway&to=signing-api&method=POST&path=/sign')).json()
    expect(why.outcome).toBe('denied')
    expect(why.l7).toMatchObject({ decision: 'DENY', policy: null })
    expect(why.l7.policies.map((p: { id: string }) => p.id)).toEqual([
      'docs/allow-nothing',
      'docs/signing-api',
    ])
    expect(why.summary).toContain('403')
  })

  it('answers a call the NetworkPolicies drop with the policy that isolates the refusing end', async () => {
    const why = (await get('/api/why?from=frontend&to=signing-api&method=POST&path=/sign')).json()
    expect(why.outcome).toBe('dropped')
    expect(why.network).toMatchObject({ verdict: 'DROP', policy: 'docs/default-deny', direction: 'ingress' })
    expect(why.network.text.yaml).toContain('kind: NetworkPolicy')
  })

  it.each([
    ['/api/why?from=nobody&to=signing-api&method=POST&path=/sign', 400, 'ERR_UNKNOWN_SOURCE'],
    ['/api/why?from=frontend&to=nowhere&method=POST&path=/sign', 400, 'ERR_UNKNOWN_DESTINATION'],
    ['/api/why?from=frontend&to=signing-api&method=P0ST&path=/sign', 400, 'ERR_BAD_METHOD'],
    ['/api/why?from=frontend&to=signing-api&method=POST&path=sign', 400, 'ERR_BAD_PATH'],
    ['/api/why?from=frontend&to=signing-api&method=POST&path=/sign&port=9', 400, 'ERR_BAD_PORT'],
    ['/api/why?from=frontend&to=signing-api&method=POST', 400, 'ERR_VALIDATION'],
    ['/api/traces/not-a-trace', 400, 'ERR_VALIDATION'],
    [`/api/traces/${'a'.repeat(32)}`, 404, 'ERR_TRACE_NOT_FOUND'],
    ['/api/nothing', 404, 'ERR_NOT_FOUND'],
  ])('%s is a problem+json %i %s', async (url, status, code) => {
    const res = await get(url)
    expect(res.statusCode).toBe(status)
    expect(res.headers['content-type']).toContain('application/problem+json')
    expect(res.json()).toMatchObject({ status, code })
  })
})

describe('traffic', () => {
  it('counts each request once per edge and outcome across both reporters, with p99 and the proxies that answered', async () => {
    const res = await get('/api/traffic')
    expect(res.statusCode).toBe(200)
    const { edges, targets } = res.json() as {
      edges: Array<Record<string, unknown>>
      targets: Array<{ workload: string; ok: boolean }>
    }
    const edge = (from: string, to: string) => edges.find((e) => e.source === from && e.destination === to)
    // Three requests, reported by bucket-api's outbound proxy and signing-api's sidecar: three, not six.
    expect(edge('bucket-api', 'signing-api')).toMatchObject({
      requests: 3,
      ok: 3,
      denied: 0,
      responses: { '200': 3 },
      tcpConnections: 1,
    })
    // The callee's histogram (3, 4, 40 ms): the 99th percentile falls in the 25-50 ms bucket.
    const p99 = edge('bucket-api', 'signing-api')?.p99Ms as number
    expect(p99).toBeGreaterThan(25)
    expect(p99).toBeLessThanOrEqual(50)
    expect(edge('istio-ingressgateway', 'signing-api')).toMatchObject({ requests: 2, denied: 2, ok: 0 })
    // The drop: only the caller's proxy saw it (503, UF).
    expect(edge('frontend', 'signing-api')).toMatchObject({ requests: 1, dropped: 1, denied: 0 })
    expect(targets.find((t) => t.workload === 'admin-api')).toMatchObject({ ok: false })
    expect(targets.filter((t) => t.ok)).toHaveLength(3)
  })
})

describe('access logs', () => {
  it('reads Istio default-format lines, newest first, with the policy an RBAC denial names', async () => {
    const res = await get('/api/logs?workload=signing-api&denied=true')
    const { entries } = res.json()
    expect(entries.map((e: { method: string }) => e.method)).toEqual(['DELETE', 'POST'])
    expect(entries[0]).toMatchObject({
      responseCode: 403,
      responseCodeDetails: 'rbac_access_denied_matched_policy[ns[docs]-policy[deny-delete]-rule[1]]',
      rbac: { policy: 'docs/deny-delete', rule: 1 },
      authority: 'signing-api.docs.svc.cluster.local:8001',
    })
    expect(entries[1].rbac).toEqual({ policy: null, rule: null })
  })

  it("finds a caller's dropped call by the callee it named", async () => {
    const { entries } = (await get('/api/logs?workload=frontend&authority=signing-api&denied=true')).json()
    expect(entries).toHaveLength(1)
    expect(entries[0]).toMatchObject({
      responseCode: 503,
      responseFlags: 'UF,URX',
      responseCodeDetails: 'upstream_reset_before_response_started{connection_timeout}',
      upstreamCluster: 'outbound|8001||signing-api.docs.svc.cluster.local',
      durationMs: 3002,
    })
  })
})

describe('traces', () => {
  const span = (spanId: string, parentSpanId: string, name: string, start: number, end: number) => ({
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId,
    parentSpanId,
    name,
    kind: 2,
    startTimeUnixNano: String(start * 1_000_000),
    endTimeUnixNano: String(end * 1_000_000),
    attributes: [{ key: 'istio.authorization.policy', value: { stringValue: 'docs/signing-api' } }],
    status: { code: 0 },
  })

  it('takes OTLP/HTTP JSON and shows the trace', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { ...HOST, 'content-type': 'application/json' },
      payload: {
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bucket-api' } }] },
            scopeSpans: [{ spans: [span('b7ad6b7169203331', '', 'POST /buckets', 1000, 1020)] }],
          },
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'signing-api' } }] },
            scopeSpans: [{ spans: [span('00f067aa0ba902b7', 'b7ad6b7169203331', 'POST /sign', 1005, 1012)] }],
          },
        ],
      },
    })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ partialSuccess: {} })
    const { traces } = (await get('/api/traces')).json()
    expect(traces[0]).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      name: 'bucket-api: POST /buckets',
      services: ['bucket-api', 'signing-api'],
      spans: 2,
      durationMs: 20,
    })
    const { spans } = (await get('/api/traces/0af7651916cd43dd8448eb211c80319c')).json()
    expect(spans[1]).toMatchObject({
      service: 'signing-api',
      parentSpanId: 'b7ad6b7169203331',
      attributes: { 'istio.authorization.policy': 'docs/signing-api' },
    })
  })

  it.each([
    ['application/json', '{"resourceSpans": 3}', 400, 'ERR_BAD_OTLP'],
    [
      'application/json',
      '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}',
      400,
      'ERR_BAD_OTLP',
    ],
    ['application/json', '{not json', 400, 'ERR_BAD_JSON'],
    ['application/x-protobuf', 'binary', 415, 'ERR_OTLP_PROTOBUF_UNSUPPORTED'],
    ['text/plain', 'hello', 415, 'ERR_UNSUPPORTED_MEDIA_TYPE'],
  ])('a %s body %s is refused: %i %s', async (type, payload, status, code) => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { ...HOST, 'content-type': type },
      payload,
    })
    expect(res.statusCode).toBe(status)
    expect(res.json()).toMatchObject({ code })
  })
})

describe('the page and the host check', () => {
  it('serves the built page', async () => {
    const res = await get('/')
    expect(res.statusCode).toBe(200)
    expect(res.body).toContain('docs-mesh console')
  })

  it('refuses a Host that is not loopback (DNS rebinding)', async () => {
    const res = await app.inject({ url: '/api/graph', headers: { host: 'attacker.example:20001' } })
    expect(res.statusCode).toBe(403)
    expect(res.json()).toMatchObject({ code: 'ERR_HOST_NOT_ALLOWED' })
  })

  it('says how to build the page when it is not built', async () => {
    const bare = await buildConsoleApp({ meshDir: dir, model, staticDir: join(dir, 'no-dist') })
    const res = await bare.inject({ url: '/', headers: HOST })
    await bare.close()
    expect(res.statusCode).toBe(503)
    expect(res.json()).toMatchObject({ code: 'ERR_CONSOLE_NOT_BUILT' })
  })
})
