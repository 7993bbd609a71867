// The inbound sidecar accepts only X.509-SVIDs: a certificate the mesh's own
// CA signed but that carries no SPIFFE ID gets no HTTP exchange at all, even
// for a path every source may call. Istio reads a peer's identity only from
// its certificate's URI SAN (istio/istio security/pkg/pki/util/san.go), so a
// certificate without a SPIFFE ID names no principal to authorize.
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { request } from 'node:https'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CertificateAuthority, type IssuedCertificate } from '../../src/ca/certificate-authority.ts'
import { loadManifests } from '../../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'
import { type LocalMesh, startLocalMesh } from '../../src/runtime/local-mesh.ts'
import { type EchoApps, startEchoApps } from '../fixtures/echo-apps.ts'

const model = buildMeshModel(loadManifests(fileURLToPath(new URL('../../../k8s/base', import.meta.url))))

describe('inbound sidecar and certificates without a SPIFFE ID', () => {
  let ca: CertificateAuthority
  let apps: EchoApps
  let signing: Server
  let received: IncomingMessage[]
  let mesh: LocalMesh
  let port: number

  beforeAll(async () => {
    ca = await CertificateAuthority.create()
    received = []
    // signing-api's stand-in records every request that reaches it.
    signing = createServer((req, res) => {
      received.push(req)
      res.end('{"status":"ok"}')
    })
    signing.listen(0, '127.0.0.1')
    await once(signing, 'listening')
    apps = await startEchoApps(model.workloads.map((w) => w.name).filter((n) => n !== 'signing-api'))
    mesh = await startLocalMesh({
      model,
      ca,
      appPorts: { ...apps.ports, 'signing-api': (signing.address() as AddressInfo).port },
      inboundPorts: 'ephemeral',
      gatewayPort: 0,
      hostAliases: {},
    })
    port = mesh.state.workloads['signing-api']?.inbound['8001'] as number
  })
  afterAll(async () => {
    await mesh?.close()
    await apps?.close()
    signing.close()
  })

  /** GET /health (open to any source) at signing-api's sidecar, presenting `client`. */
  const health = (client: IssuedCertificate) =>
    new Promise<{ status: number } | { error: string }>((resolve) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/health',
          ca: ca.rootPem,
          cert: client.certPem,
          key: client.keyPem,
          // The sidecar's SVID has no DNS name; this test is about the client's certificate.
          checkServerIdentity: () => undefined,
          agent: false,
        },
        (res) => {
          res.resume()
          resolve({ status: res.statusCode ?? 0 })
        },
      )
      req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }))
      req.end()
    })

  it('serves a real SVID from the same CA (the control case)', async () => {
    const before = received.length
    const svid = await ca.issueSvid('spiffe://cluster.local/ns/docs/sa/bucket-sa', 60_000)
    expect(await health(svid)).toEqual({ status: 200 })
    expect(received).toHaveLength(before + 1)
  })

  it('gives no HTTP response to a trusted certificate with DNS names and no URI', async () => {
    const before = received.length
    // The gateway's browser-facing kind of certificate: same CA, clientAuth allowed, no SPIFFE ID.
    const dnsOnly = await ca.issueServerCertificate(['bucket-api.docs.svc.cluster.local'], 60_000)
    expect(await health(dnsOnly)).toEqual({ error: expect.stringMatching(/ECONNRESET|socket hang up/) })
    expect(received).toHaveLength(before)
  })

  it('gives no HTTP response to a trusted certificate whose URI is not a SPIFFE ID', async () => {
    const before = received.length
    const https = await ca.issueSvid('https://bucket-api.docs.svc.cluster.local/sa/bucket-sa', 60_000)
    expect(await health(https)).toEqual({ error: expect.stringMatching(/ECONNRESET|socket hang up/) })
    expect(received).toHaveLength(before)
  })
})
