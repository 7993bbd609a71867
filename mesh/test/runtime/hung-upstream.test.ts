// A destination that accepts a request and never answers: every proxy in the
// way gives up after the mesh's upstream timeout and answers as Envoy does
// when its route timeout fires (504 `upstream request timeout`, see
// src/sidecar/upstream-timeout.ts), instead of holding the caller for minutes.
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts'
import { type CurlContext, meshCurl } from '../../src/client/mesh-curl.ts'
import { loadManifests } from '../../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'
import { type LocalMesh, startLocalMesh } from '../../src/runtime/local-mesh.ts'
import { DEFAULT_UPSTREAM_TIMEOUT_MS, upstreamTimeouts } from '../../src/sidecar/upstream-timeout.ts'
import { type EchoApps, startEchoApps } from '../fixtures/echo-apps.ts'

const model = buildMeshModel(loadManifests(fileURLToPath(new URL('../../../k8s/base', import.meta.url))))
const HUNG = ['signing-api', 'frontend']
const UPSTREAM_TIMEOUT_MS = 300

describe('a hung destination behind the local mesh', () => {
  let apps: EchoApps
  let hung: Server
  let received: IncomingMessage[]
  let mesh: LocalMesh
  let ctx: CurlContext

  beforeAll(async () => {
    received = []
    // Reads the request, then holds the connection open without a word.
    hung = createServer((req) => {
      received.push(req)
      req.resume()
    })
    hung.listen(0, '127.0.0.1')
    await once(hung, 'listening')
    const hungPort = (hung.address() as AddressInfo).port
    const names = model.workloads.map((w) => w.name)
    apps = await startEchoApps(names.filter((n) => !HUNG.includes(n)))
    const ca = await CertificateAuthority.create()
    mesh = await startLocalMesh({
      model,
      ca,
      appPorts: { ...apps.ports, ...Object.fromEntries(HUNG.map((n) => [n, hungPort])) },
      inboundPorts: 'ephemeral',
      gatewayPort: 0,
      hostAliases: { localhost: 'api.rossmck.dev' },
      upstreamTimeoutMs: UPSTREAM_TIMEOUT_MS,
    })
    // Far above the mesh's bound: the answer must come from the mesh, not from giving up here.
    ctx = { model, state: mesh.state, ca, timeoutMs: 20 * UPSTREAM_TIMEOUT_MS }
  })
  afterAll(async () => {
    await mesh?.close()
    await apps?.close()
    hung.closeAllConnections()
    hung.close()
  })

  it('answers a meshed caller 504 upstream request timeout, after the request reached the app', async () => {
    const before = received.length
    const res = await meshCurl(ctx, 'bucket-api', {
      method: 'POST',
      url: 'http://signing-api.docs.svc.cluster.local:8001/sign',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    })
    expect(res).toMatchObject({ exitCode: 0, status: 504, body: 'upstream request timeout' })
    // The caller's own sidecar answers, and Istio names a sidecar's outbound listener `envoy`
    // (istio/istio pilot/pkg/networking/util/proxy_headers.go).
    expect(res.headers?.server).toBe('envoy')
    expect(received.length).toBe(before + 1)
    expect(received.at(-1)?.url).toBe('/sign')
  })

  it('answers a browser through the gateway the same way', async () => {
    const before = received.length
    const res = await meshCurl(ctx, 'ingress', {
      method: 'GET',
      url: `https://localhost:${mesh.state.gatewayPort}/inbox`,
    })
    expect(res).toMatchObject({ exitCode: 0, status: 504, body: 'upstream request timeout' })
    expect(received.length).toBe(before + 1)
  })
})

describe('the upstream timeout setting', () => {
  it('defaults to Envoy’s route timeout of 15 s and refuses a bound that is no bound', () => {
    expect(DEFAULT_UPSTREAM_TIMEOUT_MS).toBe(15_000)
    expect(upstreamTimeouts()).toEqual({ headersTimeout: 15_000, bodyTimeout: 15_000 })
    expect(upstreamTimeouts(250)).toEqual({ headersTimeout: 250, bodyTimeout: 250 })
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => upstreamTimeouts(bad)).toThrow(RangeError)
  })
})
