import { X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts'
import { SvidError, spiffeIdOf } from '../../src/ca/spiffe-peer.ts'
import { startSvidRotation } from '../../src/ca/svid-rotation.ts'

const ID = 'spiffe://cluster.local/ns/docs/sa/bucket-sa'

describe('local CA', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-ca-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const ca = await CertificateAuthority.loadOrCreate(dir)

  it('keeps its root across restarts, with the key readable by the owner only', async () => {
    const again = await CertificateAuthority.loadOrCreate(dir)
    expect(again.rootPem).toBe(ca.rootPem)
    expect(statSync(join(dir, 'root-key.pem')).mode & 0o077).toBe(0)
    const root = new X509Certificate(ca.rootPem)
    expect(root.ca).toBe(true)
    expect(root.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1')
  })

  it('issues X.509-SVIDs as the SPIFFE standard says', async () => {
    const svid = await ca.issueSvid(ID, 24 * 3600_000)
    const cert = new X509Certificate(svid.certPem)
    expect(cert.subjectAltName).toBe(`URI:${ID}`)
    expect(cert.ca).toBe(false)
    expect(cert.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']))
    expect(cert.verify(new X509Certificate(ca.rootPem).publicKey)).toBe(true)
    expect(cert.checkIssued(new X509Certificate(ca.rootPem))).toBe(true)
    const lifetime = new Date(cert.validTo).getTime() - Date.now()
    expect(lifetime).toBeGreaterThan(23.9 * 3600_000)
    expect(spiffeIdOf(cert.raw)).toBe(ID)
  })

  it('refuses certificates that are not SVIDs', async () => {
    expect(() => spiffeIdOf(new X509Certificate(ca.rootPem).raw)).toThrow(SvidError)
    const server = await ca.issueServerCertificate(['api.rossmck.dev', 'localhost'], 3600_000)
    expect(() => spiffeIdOf(new X509Certificate(server.certPem).raw)).toThrow(/0 URI SANs/)
  })

  it('rotates an SVID before it expires', async () => {
    const source = await startSvidRotation(ca, ID, 2_000)
    const first = source.current()
    const rotated = await new Promise<string>((resolve) => source.onRotate((svid) => resolve(svid.certPem)))
    source.stop()
    expect(rotated).not.toBe(first.certPem)
    expect(Date.now()).toBeLessThan(first.notAfter.getTime())
  })
})
