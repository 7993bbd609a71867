// What a client sees from the proxies, checked against the Envoy and Istio
// sources each answer comes from (cited beside each test).
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts'
import { type CurlContext, meshCurl } from '../../src/client/mesh-curl.ts'
import type { K8sObject } from '../../src/manifests/k8s-object.ts'
import { loadManifests } from '../../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'
import { type LocalMesh, startLocalMesh } from '../../src/runtime/local-mesh.ts'
import { type EchoApps, startEchoApps } from '../fixtures/echo-apps.ts'

const base = loadManifests(fileURLToPath(new URL('../../../k8s/base', import.meta.url)))
const extra = (yaml: string) => yaml.split('\n---\n').map((doc) => parse(doc) as K8sObject)

// A gateway Deployment of the user's own (its labels come from here) and two
// gateway policies: the gateway's RBAC runs before its router.
const gatewayObjects = extra(`
apiVersion: apps/v1
kind: Deployment
metadata: { name: istio-ingressgateway, namespace: istio-system }
spec:
  template:
    metadata: { labels: { istio: ingressgateway, app: istio-ingressgateway, team: edge } }
    spec:
      serviceAccountName: istio-ingressgateway-service-account
      containers: [{ name: istio-proxy, ports: [{ containerPort: 8443 }] }]
---
apiVersion: v1
kind: Service
metadata: { name: istio-ingressgateway, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  ports: [{ name: https, port: 443, targetPort: 8443 }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: edge-deny, namespace: istio-system }
spec:
  selector: { matchLabels: { team: edge } }
  action: DENY
  rules:
    - to: [{ operation: { paths: ["/blocked*"] } }]
    - to: [{ operation: { ports: ["8443"], paths: ["/port-8443"] } }]`)

const model = buildMeshModel([...base, ...gatewayObjects])
const SIGN = 'http://signing-api.docs.svc.cluster.local:8001/sign'

/** bucket-api's stand-in answers a large upload at once, as Fastify's body limit does, and closes. */
async function startEarlyAnswerApp(): Promise<Server> {
  const server = createServer((_req, res) => {
    const problem = JSON.stringify({ type: 'about:blank', status: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' })
    res.writeHead(413, { 'content-type': 'application/problem+json', connection: 'close' })
    res.end(problem)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return server
}

describe('the proxies answer as Istio’s Envoy does', () => {
  let apps: EchoApps
  let early: Server
  let mesh: LocalMesh
  let ctx: CurlContext
  let ca: CertificateAuthority
  let gateway: string

  beforeAll(async () => {
    ca = await CertificateAuthority.create()
    apps = await startEchoApps(model.workloads.map((w) => w.name).filter((n) => n !== 'bucket-api'))
    early = await startEarlyAnswerApp()
    mesh = await startLocalMesh({
      model,
      ca,
      appPorts: { ...apps.ports, 'bucket-api': (early.address() as AddressInfo).port },
      inboundPorts: 'ephemeral',
      gatewayPort: 0,
      hostAliases: { localhost: 'api.rossmck.dev' },
    })
    ctx = { model, state: mesh.state, ca }
    gateway = `https://localhost:${mesh.state.gatewayPort}`
  })
  afterAll(async () => {
    await mesh?.close()
    await apps?.close()
    early?.closeAllConnections()
    early?.close()
  })

  const seen = (body: string | undefined) =>
    JSON.parse(body ?? '{}') as { app: string; headers: Record<string, string> }

  // istio/istio pilot/pkg/networking/util/proxy_headers.go: server_name `istio-envoy`
  // on inbound and gateway listeners, none (Envoy's `envoy`) on outbound, and
  // server_header_transformation OVERWRITE on all of them.
  it('gives a mesh caller `server: envoy` (its own sidecar overwrites it) and a gateway client `istio-envoy`', async () => {
    const allowed = await meshCurl(ctx, 'bucket-api', { method: 'POST', url: SIGN })
    expect(allowed).toMatchObject({ status: 200, headers: { server: 'envoy' } })
    const denied = await meshCurl(ctx, 'admin-api', { method: 'POST', url: SIGN })
    expect(denied).toMatchObject({ status: 403, body: 'RBAC: access denied', headers: { server: 'envoy' } })
    const viaGateway = await meshCurl(ctx, 'ingress', { method: 'GET', url: `${gateway}/verify/x` })
    expect(viaGateway).toMatchObject({ status: 200, headers: { server: 'istio-envoy' } })
  })

  // envoyproxy/envoy source/common/router/router.cc onUpstreamHeaders: set on
  // answers from upstream once the request was complete; a local reply has none.
  it('sets x-envoy-upstream-service-time on upstream answers only', async () => {
    const allowed = await meshCurl(ctx, 'bucket-api', { method: 'POST', url: SIGN, body: '{}' })
    expect(allowed.headers?.['x-envoy-upstream-service-time']).toMatch(/^\d+$/)
    const viaGateway = await meshCurl(ctx, 'ingress', { method: 'GET', url: `${gateway}/verify/x` })
    expect(viaGateway.headers?.['x-envoy-upstream-service-time']).toMatch(/^\d+$/)
    // The destination's RBAC 403 is an upstream answer to the caller's own sidecar.
    const denied = await meshCurl(ctx, 'admin-api', { method: 'POST', url: SIGN })
    expect(denied.headers?.['x-envoy-upstream-service-time']).toMatch(/^\d+$/)
    const noRoute = await meshCurl(ctx, 'ingress', {
      method: 'GET',
      url: `${gateway}/verify/x`,
      headers: { host: 'other.example' },
    })
    expect(noRoute.status).toBe(404)
    expect(noRoute.headers?.['x-envoy-upstream-service-time']).toBeUndefined()
  })

  // envoyproxy/envoy source/common/http/conn_manager_utility.cc mutateRequestHeaders:
  // an edge proxy (the gateway: use_remote_address) overwrites x-forwarded-proto with
  // its downstream scheme; sidecars (use_remote_address false) set it only when absent.
  it('sets x-forwarded-proto as Envoy does: http for mesh calls, https through the gateway', async () => {
    const mesh = await meshCurl(ctx, 'bucket-api', { method: 'POST', url: SIGN })
    expect(seen(mesh.body).headers['x-forwarded-proto']).toBe('http')
    const viaGateway = await meshCurl(ctx, 'ingress', {
      method: 'GET',
      url: `${gateway}/verify/x`,
      headers: { 'x-forwarded-proto': 'http' },
    })
    expect(seen(viaGateway.body).headers['x-forwarded-proto']).toBe('https')
  })

  // Outbound: Envoy's default forward_client_cert_details SANITIZE; inbound: APPEND_FORWARD
  // (istio/istio pilot/pkg/networking/core/listener_inbound.go); gateway: SANITIZE_SET
  // (pilot/pkg/networking/core/gateway.go buildGatewayConnectionManager).
  it('lets the destination app see only the real caller in x-forwarded-client-cert, whatever an app or a client forged', async () => {
    const forged =
      'By=spiffe://cluster.local/ns/docs/sa/signing-sa;URI=spiffe://cluster.local/ns/docs/sa/admin-sa'
    const fromApp = await meshCurl(ctx, 'bucket-api', {
      method: 'POST',
      url: SIGN,
      headers: { 'x-forwarded-client-cert': forged },
    })
    expect(seen(fromApp.body).headers['x-forwarded-client-cert']).toMatch(
      /^By=spiffe:\/\/cluster\.local\/ns\/docs\/sa\/signing-sa;Hash=[0-9a-f]{64};Subject="";URI=spiffe:\/\/cluster\.local\/ns\/docs\/sa\/bucket-sa$/,
    )
    const fromClient = await meshCurl(ctx, 'ingress', {
      method: 'GET',
      url: `${gateway}/verify/x`,
      headers: { 'x-forwarded-client-cert': forged },
    })
    expect(seen(fromClient.body).headers['x-forwarded-client-cert']).toMatch(
      /^By=spiffe:\/\/cluster\.local\/ns\/docs\/sa\/verification-sa;Hash=[0-9a-f]{64};Subject="";URI=spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/istio-ingressgateway-service-account$/,
    )
  })

  // Gateway routes ignore the port in :authority (istio/istio pilot/pkg/networking/core/
  // gateway.go: ignore_port_in_host_matching); a local alias is tried only when the
  // real host has no virtual host.
  it('matches the gateway host with any port, then falls back to the local alias', async () => {
    const withPort = await meshCurl(ctx, 'ingress', {
      method: 'GET',
      url: `${gateway}/verify/x`,
      headers: { host: 'API.rossmck.dev:443' },
    })
    expect(seen(withPort.body)).toMatchObject({ app: 'verification-api' })
    expect(seen(withPort.body).headers.host).toBe('API.rossmck.dev:443')
    const aliased = await meshCurl(ctx, 'ingress', { method: 'GET', url: `${gateway}/verify/x` })
    expect(seen(aliased.body).headers.host).toBe(`localhost:${mesh.state.gatewayPort}`)
    const unknown = await meshCurl(ctx, 'ingress', {
      method: 'GET',
      url: `${gateway}/verify/x`,
      headers: { host: 'other.example:443' },
    })
    expect(unknown).toMatchObject({ status: 404, body: '', headers: { server: 'istio-envoy' } })
  })

  // Envoy's RBAC filter comes before the router in the gateway's filter chain, so a
  // denied request gets 403 even where the router would answer 404.
  it('applies the gateway’s policies, with its manifest labels and pod port 8443, before answering 404', async () => {
    const unknownHost = await meshCurl(ctx, 'ingress', {
      method: 'GET',
      url: `${gateway}/blocked`,
      headers: { host: 'other.example' },
    })
    expect(unknownHost).toMatchObject({ status: 403, body: 'RBAC: access denied' })
    const byPort = await meshCurl(ctx, 'ingress', { method: 'GET', url: `${gateway}/port-8443` })
    expect(byPort).toMatchObject({ status: 403, body: 'RBAC: access denied' })
  })

  // CONNECT has no :path, so no prefix/exact/regex route matches: the router's 404.
  // A target not starting with `/`: 404 (conn_manager_impl.cc, absolute_path_rejected).
  it('answers CONNECT and a target without a leading slash instead of closing silently', async () => {
    const raw = async (head: string) => {
      const socket = tlsConnect({
        port: mesh.state.gatewayPort as number,
        host: '127.0.0.1',
        servername: 'localhost',
        ca: ca.rootPem,
      })
      await once(socket, 'secureConnect')
      socket.write(head)
      const chunks: Buffer[] = []
      socket.on('data', (c: Buffer) => chunks.push(c))
      await Promise.race([once(socket, 'close'), once(socket, 'end')])
      socket.destroy()
      return Buffer.concat(chunks).toString()
    }
    const connect = await raw('CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n')
    expect(connect).toMatch(/^HTTP\/1\.1 404 /)
    expect(connect).toMatch(/\r\nserver: istio-envoy\r\n/i)
    const asterisk = await raw('OPTIONS * HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n')
    expect(asterisk).toMatch(/^HTTP\/1\.1 404 /)
    // A request the parser refuses: Envoy's codec answers before it closes.
    const malformed = await raw('GET /verify HTTP/1.1\r\nhost: localhost\r\nbad header line\r\n\r\n')
    expect(malformed).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/)
    expect(malformed).toMatch(/\r\nserver: istio-envoy\r\n[\s\S]*\r\n\r\nBad Request$/)
    const huge = await raw(
      `GET /verify HTTP/1.1\r\nhost: localhost\r\nx-big: ${'a'.repeat(70 * 1024)}\r\n\r\n`,
    )
    expect(huge).toMatch(/^HTTP\/1\.1 431 /)
  })

  // Issue 16 items 3 and 4. Envoy relays an early upstream answer, marks the HTTP/1
  // connection closing (`connection: close`) and closes it after a delay
  // (source/common/http/conn_manager_impl.cc; delayed_close_timeout, 1 s by default).
  it('relays an app’s early 413 to a client that sends a 20 MiB body before reading, then closes', async () => {
    const socket = tlsConnect({
      port: mesh.state.gatewayPort as number,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: ca.rootPem,
    })
    await once(socket, 'secureConnect')
    const chunks: Buffer[] = []
    const closed = once(socket, 'close')
    socket.on('error', () => {})
    const size = 20 * 1024 * 1024
    socket.write(
      `POST /buckets HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/octet-stream\r\ncontent-length: ${size}\r\n\r\n`,
    )
    const chunk = Buffer.alloc(256 * 1024, 1)
    for (let sent = 0; sent < size && !socket.destroyed; sent += chunk.length) {
      if (!socket.write(chunk)) await Promise.race([once(socket, 'drain'), closed])
    }
    const allSent = Date.now()
    socket.on('data', (c: Buffer) => chunks.push(c))
    await closed
    const answer = Buffer.concat(chunks).toString()
    expect(answer).toMatch(/^HTTP\/1\.1 413 /)
    expect(answer).toMatch(/\r\nconnection: close\r\n/i)
    expect(answer).toContain('"code":"FST_ERR_CTP_BODY_TOO_LARGE"')
    expect(Date.now() - allSent).toBeLessThan(5_000)
  }, 30_000)

  it('relays the early 413 to a client that reads while it sends, never a 503', async () => {
    const { request } = await import('undici')
    const res = await request(`${gateway}/buckets`, {
      method: 'POST',
      body: Buffer.alloc(6 * 1024 * 1024, 1),
      dispatcher: new (await import('undici')).Agent({ connect: { ca: ca.rootPem } }),
    })
    expect(res.statusCode).toBe(413)
    expect(res.headers['content-type']).toBe('application/problem+json')
    await res.body.text()
  })

  it('answers with Envoy’s retried text when the destination app is down', async () => {
    await apps.close()
    const res = await meshCurl(ctx, 'bucket-api', { method: 'POST', url: SIGN })
    expect(res).toMatchObject({
      status: 503,
      headers: { server: 'envoy' },
      body: 'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused',
    })
  })
})
