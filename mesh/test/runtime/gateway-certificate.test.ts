// The gateway's TLS certificate is renewed as the SVIDs are, at half its
// lifetime, so a long-running pnpm dev never serves an expired certificate:
// with a short lifetime the served certificate changes before the first one
// expires, and every new handshake gets one that is valid.
import { once } from 'node:events'
import { connect, type PeerCertificate } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { IssuedCertificate } from '../../src/ca/certificate-authority.ts'
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts'
import { loadManifests } from '../../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'
import { type LocalMesh, startLocalMesh } from '../../src/runtime/local-mesh.ts'
import { type EchoApps, startEchoApps } from '../fixtures/echo-apps.ts'

const model = buildMeshModel(loadManifests(fileURLToPath(new URL('../../../k8s/base', import.meta.url))))
const LIFETIME_MS = 4_000

describe('gateway certificate renewal', () => {
  let apps: EchoApps
  let mesh: LocalMesh
  let ca: CertificateAuthority

  beforeAll(async () => {
    ca = await CertificateAuthority.create()
    apps = await startEchoApps(model.workloads.map((w) => w.name))
    mesh = await startLocalMesh({
      model,
      ca,
      appPorts: apps.ports,
      inboundPorts: 'ephemeral',
      gatewayPort: 0,
      hostAliases: { localhost: 'api.rossmck.dev' },
      svidLifetimeMs: LIFETIME_MS,
    })
  })
  afterAll(async () => {
    await mesh?.close()
    await apps?.close()
  })

  const served = async (): Promise<PeerCertificate> => {
    const socket = connect({
      host: '127.0.0.1',
      port: mesh.state.gatewayPort as number,
      servername: 'localhost',
      ca: ca.rootPem,
    })
    await once(socket, 'secureConnect')
    const certificate = socket.getPeerCertificate()
    socket.destroy()
    return certificate
  }

  it('serves a new certificate after each renewal, before the old one expires', async () => {
    const source = mesh.gatewayCertificate
    expect(source).not.toBeNull()
    const first = await served()
    const firstExpiry = Date.parse(first.valid_to)
    expect(firstExpiry - Date.now()).toBeLessThanOrEqual(LIFETIME_MS + 1_000)

    // Each renewal is an event; a listener that outlives its promise is harmless.
    const nextRenewal = () =>
      new Promise<{ certificate: IssuedCertificate; at: number }>((resolve) =>
        source?.onRotate((certificate) => resolve({ certificate, at: Date.now() })),
      )
    const renewals: Array<{ certificate: IssuedCertificate; at: number }> = []
    for (let n = 1; n <= 2; n++) {
      const renewal = await nextRenewal()
      renewals.push(renewal)
      const now = await served()
      expect(now.serialNumber, `after renewal ${n}`).not.toBe(first.serialNumber)
      expect(Date.parse(now.valid_to)).toBe(Math.floor(renewal.certificate.notAfter.getTime() / 1000) * 1000)
      expect(Date.parse(now.valid_to)).toBeGreaterThan(Date.now())
    }
    expect(renewals).toHaveLength(2)
    // The first renewal came before the first certificate expired (at about half its lifetime).
    expect(renewals[0]?.at).toBeLessThan(firstExpiry)
  }, 30_000)
})
