// @peculiar/x509 resolves its internals through tsyringe, which needs this polyfill first.
import 'reflect-metadata'
import { webcrypto, X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as x509 from '@peculiar/x509'
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

  // Each certificate is an SVID but for one rule it breaks (the X.509-SVID
  // standard, spiffe/spiffe standards/X509-SVID.md, sections 2, 4.1 and 4.3): the
  // handshake checks only the chain, so each rule holds only if spiffeIdOf checks it.
  it.each([
    ['a CA certificate', { ca: true }, /is a CA certificate/],
    ['two URI SANs', { uris: [ID, 'spiffe://cluster.local/ns/docs/sa/admin-sa'] }, /2 URI SANs/],
    [
      'keyCertSign',
      { usages: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign },
      /may sign/,
    ],
    ['no digitalSignature', { usages: x509.KeyUsageFlags.keyEncipherment }, /lacks digitalSignature/],
    [
      'a dot segment in its path',
      { uris: ['spiffe://cluster.local/ns/docs/sa/../admin-sa'] },
      /not a SPIFFE ID/,
    ],
  ] as const)('refuses a certificate with %s', async (_, rule, error) => {
    const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
    const keys = (await webcrypto.subtle.generateKey(algorithm, false, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair
    const options = {
      ca: false,
      uris: [ID] as readonly string[],
      usages: x509.KeyUsageFlags.digitalSignature,
      ...rule,
    }
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=not-an-svid',
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3600_000),
      keys,
      signingAlgorithm: algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(options.ca, undefined, true),
        new x509.KeyUsagesExtension(options.usages, true),
        new x509.SubjectAlternativeNameExtension(options.uris.map((value) => ({ type: 'url', value }))),
      ],
    })
    expect(() => spiffeIdOf(Buffer.from(cert.rawData))).toThrow(error)
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
