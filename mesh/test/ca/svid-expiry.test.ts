// Rotation is timed from the notAfter the CA reports, so it must be the very
// instant the certificate stores (X.509 keeps whole seconds): a reported
// expiry later than the real one lets a short-lived SVID lapse before it is replaced.
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { describe, expect, it } from 'vitest'
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts'

describe('SVID expiry', () => {
  it('reports the notAfter the certificate itself carries', async () => {
    const ca = await CertificateAuthority.create()
    for (let i = 0; i < 5; i++) {
      const svid = await ca.issueSvid('spiffe://cluster.local/ns/docs/sa/bucket-sa', 2_000 + i * 137)
      const cert = new x509.X509Certificate(svid.certPem)
      expect(svid.notAfter.getTime()).toBe(cert.notAfter.getTime())
    }
  })
})
