// Traces from the proxies: with an OTLP endpoint set, each proxy a request
// crosses exports one span (OpenTelemetry SDK, OTLP/HTTP JSON), continuing
// the caller's W3C trace as Envoy's tracer does, and the span of the sidecar
// that decided carries the policy and rule. Without an endpoint no tracer is
// loaded at all (src/telemetry/workload-telemetry.ts).
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, IncomingMessage, type Server } from 'node:http'
import { type AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts'
import { type CurlContext, meshCurl } from '../../src/client/mesh-curl.ts'
import { loadManifests } from '../../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'
import { type LocalMesh, startLocalMesh } from '../../src/runtime/local-mesh.ts'
import { otelProxyTracer } from '../../src/telemetry/otel-tracer.ts'
import type { Peer } from '../../src/telemetry/peer-labels.ts'
import { type EchoApps, startEchoApps } from '../fixtures/echo-apps.ts'

const model = buildMeshModel(loadManifests(fileURLToPath(new URL('../../../k8s/base', import.meta.url))))
const SIGN = 'http://signing-api.docs.svc.cluster.local:8001/sign'
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const APP_SPAN = '00f067aa0ba902b7'

interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  attributes: Array<{ key: string; value: { stringValue?: string; intValue?: number | string } }>
}
interface Exported {
  service: string
  span: OtlpSpan
}

describe('proxy spans', () => {
  let apps: EchoApps
  let collector: Server
  let mesh: LocalMesh | undefined
  let ctx: CurlContext
  let logDir: string
  const exported: Exported[] = []

  beforeAll(async () => {
    logDir = mkdtempSync(join(tmpdir(), 'mesh-traces-'))
    collector = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as {
          resourceSpans: Array<{
            resource: { attributes: Array<{ key: string; value: { stringValue: string } }> }
            scopeSpans: Array<{ spans: OtlpSpan[] }>
          }>
        }
        for (const r of body.resourceSpans) {
          const service = r.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? ''
          for (const s of r.scopeSpans) for (const span of s.spans) exported.push({ service, span })
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
    })
    collector.listen(0, '127.0.0.1')
    await once(collector, 'listening')
    const ca = await CertificateAuthority.create()
    apps = await startEchoApps(model.workloads.map((w) => w.name))
    mesh = await startLocalMesh({
      model,
      ca,
      appPorts: apps.ports,
      inboundPorts: 'ephemeral',
      gatewayPort: 0,
      hostAliases: { localhost: 'api.rossmck.dev' },
      telemetry: {
        logDir,
        otlpEndpoint: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
      },
    })
    ctx = { model, state: mesh.state, ca }
  })
  afterAll(async () => {
    await mesh?.close()
    await apps?.close()
    collector?.closeAllConnections()
    collector?.close()
    rmSync(logDir, { recursive: true, force: true })
  })

  const attribute = (span: OtlpSpan | undefined, key: string) => {
    const value = span?.attributes.find((a) => a.key === key)?.value
    return value?.stringValue ?? (value?.intValue === undefined ? undefined : Number(value.intValue))
  }

  it('continues the app’s trace through both sidecars, the deciding one naming policy and rule', async () => {
    const allowed = await meshCurl(ctx, 'bucket-api', {
      method: 'POST',
      url: SIGN,
      headers: { traceparent: `00-${TRACE}-${APP_SPAN}-01` },
    })
    expect(allowed.status).toBe(200)
    const seenByApp = (JSON.parse(allowed.body ?? '{}') as { headers: Record<string, string> }).headers
      .traceparent
    // Closing flushes every proxy's batch to the collector.
    await mesh?.close()
    mesh = undefined

    const spans = exported.filter((e) => e.span.traceId === TRACE)
    const outbound = spans.find((e) => e.service === 'bucket-api.docs')?.span
    const inbound = spans.find((e) => e.service === 'signing-api.docs')?.span
    expect(spans).toHaveLength(2)
    // CLIENT (3) on the caller's side, child of the app's span; SERVER (2) on the callee's, child of it.
    expect([outbound?.kind, outbound?.parentSpanId]).toEqual([3, APP_SPAN])
    expect([inbound?.kind, inbound?.parentSpanId]).toEqual([2, outbound?.spanId])
    expect(outbound?.name).toBe('signing-api.docs.svc.cluster.local:8001/*')
    // The app continues from the span of the sidecar in front of it.
    expect(seenByApp).toBe(`00-${TRACE}-${inbound?.spanId}-01`)
    expect(attribute(inbound, 'istio.authorization.decision')).toBe('ALLOW')
    expect(attribute(inbound, 'istio.authorization.policy')).toBe('docs/signing-api')
    expect(attribute(inbound, 'istio.authorization.rule')).toBe(0)
    expect(attribute(inbound, 'http.status_code')).toBe(200)
  })

  it('closes cleanly when the collector is gone: the spans are lost, the proxy is not', async () => {
    const gone = createServer()
    gone.listen(0, '127.0.0.1')
    await once(gone, 'listening')
    const endpoint = `http://127.0.0.1:${(gone.address() as AddressInfo).port}`
    await new Promise((resolve) => gone.close(resolve))
    const tracer = otelProxyTracer({
      endpoint,
      self: {
        workload: 'bucket-api',
        namespace: 'docs',
        principal: 'spiffe://cluster.local/ns/docs/sa/bucket-sa',
        canonicalService: 'bucket-api',
        canonicalRevision: 'latest',
        app: 'bucket-api',
        version: 'latest',
      } satisfies Peer,
    })
    const req = Object.assign(new IncomingMessage(new Socket()), {
      method: 'GET',
      url: '/',
      headers: { host: 'signing-api.docs.svc.cluster.local:8001' },
    })
    tracer.start(req, 'outbound').end(200, '-', 'via_upstream')
    // Shutting down flushes the batch to a port nothing listens on.
    await expect(tracer.close()).resolves.toBeUndefined()
  })
})
