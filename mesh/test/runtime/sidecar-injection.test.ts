// Which workloads get a sidecar, and what a workload without one does, as Istio decides it.
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts'
import { type CurlContext, meshCurl } from '../../src/client/mesh-curl.ts'
import type { K8sObject } from '../../src/manifests/k8s-object.ts'
import { loadManifests } from '../../src/manifests/load-manifests.ts'
import { buildMeshModel, mtlsModeOf } from '../../src/manifests/mesh-model.ts'
import { injectsSidecar } from '../../src/manifests/sidecar-injection.ts'
import { type LocalMesh, startLocalMesh } from '../../src/runtime/local-mesh.ts'
import { type EchoApps, startEchoApps } from '../fixtures/echo-apps.ts'

// istio/istio manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml
// (which webhook is called) and pkg/kube/inject/inject.go injectRequired (its decision).
describe('sidecar injection', () => {
  it.each([
    [{ 'istio-injection': 'enabled' }, {}, true],
    [{ 'istio-injection': 'enabled' }, { 'sidecar.istio.io/inject': 'false' }, false],
    [{ 'istio-injection': 'enabled' }, { 'sidecar.istio.io/inject': 'yes' }, true],
    [{ 'istio-injection': 'disabled' }, { 'sidecar.istio.io/inject': 'true' }, false],
    [{ 'istio.io/rev': 'default' }, {}, true],
    [{ 'istio.io/rev': 'default' }, { 'sidecar.istio.io/inject': 'false' }, false],
    [{}, {}, false],
    [{}, { 'sidecar.istio.io/inject': 'true' }, true],
    [{}, { 'istio.io/rev': 'default' }, true],
  ])('namespace %j, pod %j: %s', (ns, pod, expected) => {
    expect(injectsSidecar(ns, pod)).toBe(expected)
  })

  it('never injects a pod on the host network', () => {
    expect(injectsSidecar({ 'istio-injection': 'enabled' }, {}, true)).toBe(false)
  })
})

const objects = (yaml: string) => yaml.split('\n---\n').map((doc) => parse(doc) as K8sObject)
const app = (name: string, port: number, podLabels: Record<string, string> = {}) => `
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: legacy }
spec:
  template:
    metadata: { labels: ${JSON.stringify({ app: name, ...podLabels })} }
    spec:
      serviceAccountName: ${name}-sa
      containers: [{ name: app, ports: [{ containerPort: ${port} }] }]
---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: legacy }
spec:
  selector: { app: ${name} }
  ports: [{ name: http, port: ${port}, targetPort: ${port} }]`

// A namespace without the injection label and without a PeerAuthentication.
const legacy = objects(`
apiVersion: v1
kind: Namespace
metadata: { name: legacy }
---
${app('legacy-app', 9000)}
---
${app('opted-in', 9001, { 'sidecar.istio.io/inject': 'true' })}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: nothing-for-legacy-app, namespace: legacy }
spec:
  selector: { matchLabels: { app: legacy-app } }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: only-bucket-api, namespace: legacy }
spec:
  selector: { matchLabels: { app: opted-in } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: ["cluster.local/ns/docs/sa/bucket-sa"] } }]`)

const base = loadManifests(fileURLToPath(new URL('../../../k8s/base', import.meta.url)))
const model = buildMeshModel([...base, ...legacy])

describe('workloads without a sidecar, and PERMISSIVE without a PeerAuthentication', () => {
  let apps: EchoApps
  let mesh: LocalMesh
  let ctx: CurlContext

  beforeAll(async () => {
    const ca = await CertificateAuthority.create()
    apps = await startEchoApps([...model.workloads, ...model.outsideWorkloads].map((w) => w.name))
    mesh = await startLocalMesh({
      model,
      ca,
      appPorts: apps.ports,
      inboundPorts: 'ephemeral',
      gatewayPort: 0,
      hostAliases: {},
    })
    ctx = { model, state: mesh.state, ca }
  })
  afterAll(async () => {
    await mesh?.close()
    await apps?.close()
  })

  const seen = (body: string | undefined) =>
    JSON.parse(body ?? '{}') as { app: string; headers: Record<string, string> }

  it('reads the injection decision and the mTLS mode from the manifests', () => {
    expect(model.outsideWorkloads.map((w) => w.name)).toEqual(['legacy-app'])
    expect(model.workloads.map((w) => w.name)).toContain('opted-in')
    expect(mtlsModeOf(model, 'docs')).toBe('STRICT')
    // No PeerAuthentication: PERMISSIVE (istio.io/latest/docs/concepts/security/#peer-authentication).
    expect(mtlsModeOf(model, 'legacy')).toBe('PERMISSIVE')
  })

  it('lets a workload without a sidecar call only in plaintext, which STRICT refuses', async () => {
    const res = await meshCurl(ctx, 'legacy-app', {
      method: 'GET',
      url: 'http://signing-api.docs.svc.cluster.local:8001/health',
    })
    expect(res.exitCode).toBe(56)
    expect(res.status).toBeUndefined()
  })

  it('enforces no policy for a workload without a sidecar, and gives it no identity', async () => {
    const res = await meshCurl(ctx, 'bucket-api', {
      method: 'GET',
      url: 'http://legacy-app.legacy.svc.cluster.local:9000/x',
    })
    expect(res.status).toBe(200)
    expect(seen(res.body).app).toBe('legacy-app')
    expect(seen(res.body).headers['x-forwarded-client-cert']).toBeUndefined()
  })

  it('serves plaintext on a PERMISSIVE sidecar without a principal, so principal rules deny it', async () => {
    const plaintext = await meshCurl(ctx, 'legacy-app', {
      method: 'GET',
      url: 'http://opted-in.legacy.svc.cluster.local:9001/x',
      headers: { 'x-forwarded-client-cert': 'URI=spiffe://cluster.local/ns/docs/sa/bucket-sa' },
    })
    expect(plaintext).toMatchObject({ status: 403, body: 'RBAC: access denied' })
    const mtls = await meshCurl(ctx, 'bucket-api', {
      method: 'GET',
      url: 'http://opted-in.legacy.svc.cluster.local:9001/x',
    })
    expect(mtls.status).toBe(200)
    expect(seen(mtls.body).headers['x-forwarded-client-cert']).toMatch(
      /URI=spiffe:\/\/cluster\.local\/ns\/docs\/sa\/bucket-sa$/,
    )
  })
})
