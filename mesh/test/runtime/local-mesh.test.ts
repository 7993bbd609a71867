import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts'
import { type CurlContext, meshCurl } from '../../src/client/mesh-curl.ts'
import { loadManifests } from '../../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'
import { type LocalMesh, startLocalMesh } from '../../src/runtime/local-mesh.ts'
import { type EchoApps, startEchoApps } from '../fixtures/echo-apps.ts'

const model = buildMeshModel(loadManifests(fileURLToPath(new URL('../../../k8s/base', import.meta.url))))
const SIGN = 'http://signing-api.docs.svc.cluster.local:8001/sign'

describe('local mesh on k8s/base with stand-in apps', () => {
  let apps: EchoApps
  let mesh: LocalMesh
  let ctx: CurlContext
  let gateway: string

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
    })
    ctx = { model, state: mesh.state, ca }
    gateway = `https://localhost:${mesh.state.gatewayPort}`
  })
  afterAll(async () => {
    await mesh?.close()
    await apps?.close()
  })

  const json = (body: string | undefined) =>
    JSON.parse(body ?? '{}') as { app: string; url: string; headers: Record<string, string> }

  it('carries an allowed call over mTLS and tells the app who called, as Istio does', async () => {
    const res = await meshCurl(ctx, 'bucket-api', {
      method: 'POST',
      url: SIGN,
      body: '{}',
      headers: { 'content-type': 'application/json' },
    })
    expect(res).toMatchObject({ exitCode: 0, status: 200 })
    // The caller's outbound sidecar writes its own server header (proxy_headers.go).
    expect(res.headers?.server).toBe('envoy')
    const seen = json(res.body)
    expect(seen.app).toBe('signing-api')
    expect(seen.headers['x-forwarded-client-cert']).toMatch(
      /^By=spiffe:\/\/cluster\.local\/ns\/docs\/sa\/signing-sa;Hash=[0-9a-f]{64};Subject="";URI=spiffe:\/\/cluster\.local\/ns\/docs\/sa\/bucket-sa$/,
    )
    expect(seen.headers.host).toBe('signing-api.docs.svc.cluster.local:8001')
  })

  // As curl: each call its own connection. Reusing one (Node's global keep-alive agent)
  // piled a listener per call on it, and a warning of a leak came after the tenth.
  it('makes each call on a connection of its own, as curl does, leaking nothing', async () => {
    const warnings: string[] = []
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`)
    process.on('warning', onWarning)
    try {
      for (let i = 0; i < 12; i++) {
        const res = await meshCurl(ctx, 'bucket-api', { method: 'POST', url: SIGN, body: '{}' })
        expect(res).toMatchObject({ exitCode: 0, status: 200 })
      }
      await new Promise((resolve) => setImmediate(resolve))
    } finally {
      process.off('warning', onWarning)
    }
    expect(warnings).toEqual([])
  })

  // curl sends `Expect: 100-continue` with any body over 1 MiB. Envoy answers the 100 itself
  // and removes the header (conn_manager_impl.cc: "Remove the Expect header so it won't be
  // handled again upstream"); forwarded, undici refused it and every such upload got a 503.
  it('answers Expect: 100-continue itself and passes the request on without it', async () => {
    for (const [from, url] of [
      ['bucket-api', SIGN],
      ['ingress', `${gateway}/verify`],
    ] as const) {
      const res = await meshCurl(ctx, from, {
        method: 'POST',
        url,
        body: '{}',
        headers: { 'content-type': 'application/json', expect: '100-continue' },
      })
      expect(res).toMatchObject({ exitCode: 0, status: 200 })
      expect(json(res.body).headers).not.toHaveProperty('expect')
    }
  })

  // Envoy takes 60 KiB of request headers on every listener (max_request_headers_kb): a
  // request with more than Node's 16 KiB default reaches the app, which answers it itself.
  it('carries request headers up to Envoy’s 60 KiB to the app, and answers 431 past them', async () => {
    const big = 'a'.repeat(20_000)
    for (const [from, url] of [
      ['bucket-api', SIGN],
      ['ingress', `${gateway}/verify`],
    ] as const) {
      const res = await meshCurl(ctx, from, { method: 'POST', url, body: '{}', headers: { 'x-big': big } })
      expect(res).toMatchObject({ exitCode: 0, status: 200 })
      expect(json(res.body).headers['x-big']).toBe(big)
      const over = await meshCurl(ctx, from, {
        method: 'POST',
        url,
        body: '{}',
        headers: { 'x-big': 'a'.repeat(70_000) },
      })
      expect(over).toMatchObject({ status: 431, body: 'Request Header Fields Too Large' })
      expect(over.headers?.['content-type']).toBe('text/plain')
    }
  })

  it('answers a denied call with Envoy’s 403', async () => {
    const res = await meshCurl(ctx, 'admin-api', { method: 'POST', url: SIGN })
    expect(res).toMatchObject({ exitCode: 0, status: 403, body: 'RBAC: access denied' })
    expect(res.headers?.server).toBe('envoy')
  })

  it('closes a plaintext connection without an HTTP response', async () => {
    expect(
      (
        await meshCurl(ctx, 'plaintext', {
          method: 'GET',
          url: 'http://signing-api.docs.svc.cluster.local:8001/health',
        })
      ).exitCode,
    ).toBe(56)
  })

  it('fails the handshake of a certificate from another CA', async () => {
    expect(
      (
        await meshCurl(ctx, 'foreign-ca', {
          method: 'GET',
          url: 'http://signing-api.docs.svc.cluster.local:8001/health',
        })
      ).exitCode,
    ).toBe(35)
  })

  it('refuses hosts outside the mesh from the outbound sidecar', async () => {
    expect(await meshCurl(ctx, 'bucket-api', { method: 'GET', url: 'http://example.com/' })).toMatchObject({
      exitCode: 0,
      status: 502,
    })
  })

  it('sets the client address as Envoy with numTrustedProxies 0: the TCP peer, whatever the client wrote', async () => {
    // Envoy source/common/http/conn_manager_utility.cc: an edge request gets the peer appended to
    // x-forwarded-for and x-envoy-external-address replaced with the trusted (peer) address; Istio's
    // gatewayTopology.numTrustedProxies defaults to 0 (istio.io: ops/configuration/traffic-management/network-topologies).
    const res = await meshCurl(ctx, 'ingress', {
      method: 'GET',
      url: `${gateway}/auth/me`,
      headers: { 'x-forwarded-for': '198.51.100.7', 'x-envoy-external-address': '198.51.100.7' },
    })
    const seen = json(res.body)
    expect(seen.app).toBe('identity-api')
    expect(seen.headers['x-envoy-external-address']).toMatch(/^(127\.0\.0\.1|::1|::ffff:127\.0\.0\.1)$/)
    expect(seen.headers['x-forwarded-for']).toBe(`198.51.100.7, ${seen.headers['x-envoy-external-address']}`)
  })

  it('routes through the gateway by string prefix, with the catch-all last', async () => {
    const authx = await meshCurl(ctx, 'ingress', { method: 'GET', url: `${gateway}/authx` })
    expect(json(authx.body).app).toBe('identity-api')
    const unknown = await meshCurl(ctx, 'ingress', { method: 'GET', url: `${gateway}/nowhere?x=1` })
    expect(json(unknown.body)).toMatchObject({ app: 'frontend', url: '/nowhere?x=1' })
    const verify = await meshCurl(ctx, 'ingress', { method: 'POST', url: `${gateway}/verify` })
    expect(json(verify.body).app).toBe('verification-api')
  })

  it('normalizes the path before routing, so /internal is never reached through an API route', async () => {
    for (const path of [
      '/auth/../internal/users',
      '/auth/%2e%2e/internal/users',
      '/auth\\..\\internal\\users',
    ]) {
      const res = await meshCurl(ctx, 'ingress', { method: 'GET', url: `${gateway}${path}` })
      expect(json(res.body), path).toMatchObject({ app: 'frontend', url: '/internal/users' })
    }
    // An escaped backslash is not a separator: it stays in an /auth path segment.
    const escaped = await meshCurl(ctx, 'ingress', { method: 'GET', url: `${gateway}/auth/..%5Cinternal` })
    expect(json(escaped.body)).toMatchObject({ app: 'identity-api', url: '/auth/..%5Cinternal' })
  })

  // Envoy's normalize_path fails an escaped NUL and the connection manager
  // answers 400 (envoyproxy/envoy source/common/http/path_utility.cc).
  it('answers 400 to a path with an escaped NUL, at the gateway and at a sidecar', async () => {
    const viaGateway = await meshCurl(ctx, 'ingress', { method: 'GET', url: `${gateway}/auth/a%00` })
    expect(viaGateway).toMatchObject({ exitCode: 0, status: 400 })
    const viaSidecar = await meshCurl(ctx, 'bucket-api', { method: 'POST', url: `${SIGN}%00`, body: '{}' })
    expect(viaSidecar).toMatchObject({ exitCode: 0, status: 400 })
  })

  it('answers 404 with an empty body for a host the Gateway does not serve', async () => {
    const res = await meshCurl(ctx, 'ingress', {
      method: 'GET',
      url: `${gateway}/auth`,
      headers: { host: 'other.example' },
    })
    expect(res).toMatchObject({ exitCode: 0, status: 404, body: '' })
  })

  it('answers 503 with Envoy’s text when the destination app is down', async () => {
    await apps.close()
    const res = await meshCurl(ctx, 'bucket-api', { method: 'POST', url: SIGN })
    expect(res.status).toBe(503)
    expect(res.body).toMatch(/^upstream connect error or disconnect\/reset before headers\. /)
  })
})

describe('SVID rotation', () => {
  it('keeps serving while the caller and the destination rotate their certificates', async () => {
    const ca = await CertificateAuthority.create()
    const apps = await startEchoApps(model.workloads.map((w) => w.name))
    const rotations: Record<string, number> = {}
    const mesh = await startLocalMesh({
      model,
      ca,
      appPorts: apps.ports,
      inboundPorts: 'ephemeral',
      gatewayPort: 0,
      hostAliases: {},
      // Rotated at half their lifetime: every two seconds or so.
      svidLifetimeMs: 4_000,
      onSvidRotate: (principal) => {
        rotations[principal] = (rotations[principal] ?? 0) + 1
      },
    })
    const ctx = { model, state: mesh.state, ca }
    const rotated = (sa: string) => rotations[`cluster.local/ns/docs/sa/${sa}`] ?? 0
    // Call until both ends have rotated three times: what counts is rotations
    // crossed, not how many requests fit in a given time. Bounded: three
    // rotations take about 6 s, far fewer than the cap of calls.
    const statuses: number[] = []
    while ((rotated('bucket-sa') < 3 || rotated('signing-sa') < 3) && statuses.length < 20_000) {
      const res = await meshCurl(ctx, 'bucket-api', { method: 'POST', url: SIGN })
      statuses.push(res.status ?? res.exitCode)
    }
    await mesh.close()
    await apps.close()
    expect(rotated('bucket-sa')).toBeGreaterThanOrEqual(3)
    expect(rotated('signing-sa')).toBeGreaterThanOrEqual(3)
    expect(new Set(statuses)).toEqual(new Set([200]))
  }, 20_000)
})

describe('policy changes', () => {
  it('allow what the edited policy files allow, after a restart', async () => {
    const { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const dir = mkdtempSync(join(tmpdir(), 'policies-'))
    cpSync(fileURLToPath(new URL('../../../k8s/base', import.meta.url)), dir, { recursive: true })
    const file = join(dir, 'istio/authorization-policies.yaml')
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace(
        '- "cluster.local/ns/docs/sa/identity-sa"',
        '- "cluster.local/ns/docs/sa/identity-sa"\n              - "cluster.local/ns/docs/sa/admin-sa"',
      ),
    )
    const edited = buildMeshModel(loadManifests(dir))
    const ca = await CertificateAuthority.create()
    const apps = await startEchoApps(edited.workloads.map((w) => w.name))
    const mesh = await startLocalMesh({
      model: edited,
      ca,
      appPorts: apps.ports,
      inboundPorts: 'ephemeral',
      gatewayPort: 0,
      hostAliases: {},
    })
    const res = await meshCurl({ model: edited, state: mesh.state, ca }, 'admin-api', {
      method: 'POST',
      url: SIGN,
    })
    await mesh.close()
    await apps.close()
    rmSync(dir, { recursive: true, force: true })
    expect(res.status).toBe(200)
  })
})
