// The NetworkPolicies at run time: k8s/overlays/local (base plus the
// network-policies component) on stand-in apps. An edge the network drops
// looks as it does on a cluster: the caller's Envoy answers 503 with the
// connect-timeout text once every attempt has timed out (see
// src/sidecar/network-drop.ts for the Istio and Envoy sources), and a caller
// without a sidecar sees nothing until it gives up.
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts'
import { type CurlContext, meshCurl } from '../../src/client/mesh-curl.ts'
import { loadManifests } from '../../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'
import { type LocalMesh, type NetworkDropLog, startLocalMesh } from '../../src/runtime/local-mesh.ts'
import { CONNECT_TIMEOUT_BODY } from '../../src/sidecar/network-drop.ts'
import { type EchoApps, startEchoApps } from '../fixtures/echo-apps.ts'

const model = buildMeshModel(
  loadManifests(fileURLToPath(new URL('../../../k8s/overlays/local', import.meta.url))),
)
const CONNECT_TIMEOUT_MS = 150
const url = (service: string, port: number, path: string) =>
  `http://${service}.docs.svc.cluster.local:${port}${path}`

describe('the network layer in the running mesh', () => {
  let apps: EchoApps
  let mesh: LocalMesh
  let ctx: CurlContext
  const drops: Parameters<NetworkDropLog>[0][] = []

  beforeAll(async () => {
    const ca = await CertificateAuthority.create()
    apps = await startEchoApps(model.workloads.map((w) => w.name))
    mesh = await startLocalMesh({
      model,
      ca,
      appPorts: apps.ports,
      inboundPorts: 'ephemeral',
      gatewayPort: 0,
      hostAliases: { localhost: 'api.rossmck.dev' },
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      onNetworkDrop: (drop) => drops.push(drop),
    })
    ctx = { model, state: mesh.state, ca, timeoutMs: 1_000 }
  })
  afterAll(async () => {
    await mesh?.close()
    await apps?.close()
  })

  it('answers a dropped call with Envoy’s connect-timeout 503 after three connect timeouts', async () => {
    const started = performance.now()
    // The policy allows health checks from anyone; frontend's egress may go to signing-api, but
    // signing-api's ingress admits only bucket-api, identity-api and the gateway.
    const res = await meshCurl(ctx, 'frontend', { method: 'GET', url: url('signing-api', 8001, '/health') })
    const elapsed = performance.now() - started
    expect(res).toMatchObject({ exitCode: 0, status: 503, body: CONNECT_TIMEOUT_BODY })
    expect(res.body).toBe(
      'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: connection timeout',
    )
    // The caller's own sidecar answers, and Istio names its outbound listener "envoy"
    // (pilot/pkg/networking/util/proxy_headers.go in istio/istio).
    expect(res.headers?.server).toBe('envoy')
    expect(elapsed).toBeGreaterThanOrEqual(3 * CONNECT_TIMEOUT_MS)
    expect(drops.at(-1)).toMatchObject({
      from: 'frontend',
      endpoint: { workload: 'signing-api', targetPort: 8001 },
      verdict: { verdict: 'DROP', policy: 'docs/default-deny', direction: 'ingress' },
    })
  })

  it('drops at the caller’s egress too, before the destination is asked', async () => {
    const res = await meshCurl(ctx, 'admin-api', { method: 'POST', url: url('signing-api', 8001, '/sign') })
    expect(res).toMatchObject({ status: 503, body: CONNECT_TIMEOUT_BODY })
    expect(drops.at(-1)?.verdict).toMatchObject({ policy: 'docs/default-deny', direction: 'egress' })
  })

  it('carries the edges both ends allow, to the L7 policy', async () => {
    const sign = await meshCurl(ctx, 'bucket-api', { method: 'POST', url: url('signing-api', 8001, '/sign') })
    expect(sign).toMatchObject({ exitCode: 0, status: 200 })
    const getSign = await meshCurl(ctx, 'bucket-api', {
      method: 'GET',
      url: url('signing-api', 8001, '/sign'),
    })
    expect(getSign).toMatchObject({ status: 403, body: 'RBAC: access denied' })
  })

  it('lets the gateway’s pod in istio-system reach the services it routes to', async () => {
    const gateway = `https://localhost:${mesh.state.gatewayPort}`
    const admin = await meshCurl(ctx, 'ingress', { method: 'GET', url: `${gateway}/admin/stats` })
    expect(JSON.parse(admin.body ?? '{}')).toMatchObject({ app: 'admin-api' })
    const direct = await meshCurl(ctx, 'ingress', {
      method: 'GET',
      url: url('verification-api', 8002, '/health'),
    })
    expect(direct).toMatchObject({ exitCode: 0, status: 200 })
  })

  it('leaves a caller without a sidecar waiting until its own timeout (curl exit 28)', async () => {
    const plaintext = await meshCurl(ctx, 'plaintext', {
      method: 'GET',
      url: url('signing-api', 8001, '/health'),
    })
    expect(plaintext).toMatchObject({ exitCode: 28 })
    expect(plaintext.status).toBeUndefined()
    const foreign = await meshCurl(ctx, 'foreign-ca', {
      method: 'GET',
      url: url('signing-api', 8001, '/health'),
    })
    expect(foreign).toMatchObject({ exitCode: 28 })
  })
})
