// The local mesh's certificate authority: an ECDSA P-256 root made once and
// kept in a git-ignored folder, issuing each workload an X.509-SVID as the
// SPIFFE standard says (one URI SAN, not a CA, digitalSignature, serverAuth
// and clientAuth) and the gateway its TLS certificate.
// https://github.com/spiffe/spiffe/blob/main/standards/X509-SVID.md
import { webcrypto } from 'node:crypto'

type CryptoKey = webcrypto.CryptoKey
type CryptoKeyPair = webcrypto.CryptoKeyPair

import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
// @peculiar/x509 resolves its internals through tsyringe, which needs this polyfill.
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const

export interface IssuedCertificate {
  certPem: string
  keyPem: string
  notBefore: Date
  notAfter: Date
}

const toPem = (der: ArrayBuffer, label: string) => x509.PemConverter.encode(der, label)

async function newKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair
}

/** A certificate request the CA will not sign; `code` is stable for problem+json answers. */
export class CsrError extends Error {
  readonly code = 'ERR_CSR_INVALID'
}

const hostNames = (hosts: string[]): x509.JsonGeneralName[] =>
  hosts.map((h) => (/^[\d.]+$|:/.test(h) ? { type: 'ip', value: h } : { type: 'dns', value: h }))

export class CertificateAuthority {
  readonly rootPem: string
  readonly #root: x509.X509Certificate
  readonly #key: CryptoKey

  private constructor(root: x509.X509Certificate, key: CryptoKey) {
    this.#root = root
    this.#key = key
    this.rootPem = root.toString('pem')
  }

  /** A new root that lives only in memory (tests, and the foreign CA of `mesh curl --from foreign-ca`). */
  static async create(name = 'docs-mesh local root'): Promise<CertificateAuthority> {
    const keys = await newKeyPair()
    const now = Date.now()
    const root = await x509.X509CertificateGenerator.createSelfSigned({
      name: `CN=${name}, O=docs-mesh`,
      keys,
      signingAlgorithm: SIGNING,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 10 * 365 * 24 * 3600_000),
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    })
    return new CertificateAuthority(root, keys.privateKey)
  }

  /** The root in `dir` (made on first use; the private key is readable by the owner only). */
  static async loadOrCreate(dir: string): Promise<CertificateAuthority> {
    const certFile = join(dir, 'root-cert.pem')
    const keyFile = join(dir, 'root-key.pem')
    if (existsSync(certFile) && existsSync(keyFile)) {
      const root = new x509.X509Certificate(readFileSync(certFile, 'utf8'))
      const der = x509.PemConverter.decodeFirst(readFileSync(keyFile, 'utf8'))
      const key = await webcrypto.subtle.importKey('pkcs8', der, EC, false, ['sign'])
      if (root.notAfter.getTime() > Date.now() + 24 * 3600_000) return new CertificateAuthority(root, key)
    }
    const ca = await CertificateAuthority.create()
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    writeFileSync(certFile, ca.rootPem)
    writeFileSync(keyFile, toPem(await webcrypto.subtle.exportKey('pkcs8', ca.#key), 'PRIVATE KEY'), {
      mode: 0o600,
    })
    chmodSync(keyFile, 0o600)
    return ca
  }

  /** Signs a leaf for `publicKey`; the caller holds (or made) the private key. */
  async #sign(
    subject: string,
    names: x509.JsonGeneralName[],
    lifetimeMs: number,
    publicKey: CryptoKey,
  ): Promise<{ certPem: string; notBefore: Date; notAfter: Date }> {
    const now = Date.now()
    // A little back-dating absorbs clock skew between processes.
    const notBefore = new Date(now - 60_000)
    // Whole seconds, as the certificate stores them: rotation is timed from this value,
    // and a fraction the certificate drops would make it expire before it is replaced.
    const notAfter = new Date(Math.floor((now + lifetimeMs) / 1000) * 1000)
    const cert = await x509.X509CertificateGenerator.create({
      subject,
      issuer: this.#root.subject,
      publicKey,
      signingKey: this.#key,
      signingAlgorithm: SIGNING,
      notBefore,
      notAfter,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        // Critical when the subject is empty (RFC 5280 4.2.1.6), as in Istio's SVIDs.
        new x509.SubjectAlternativeNameExtension(names, subject === ''),
        await x509.SubjectKeyIdentifierExtension.create(publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(this.#root.publicKey),
      ],
    })
    return { certPem: cert.toString('pem'), notBefore, notAfter }
  }

  async #issue(
    subject: string,
    names: x509.JsonGeneralName[],
    lifetimeMs: number,
  ): Promise<IssuedCertificate> {
    const keys = await newKeyPair()
    const signed = await this.#sign(subject, names, lifetimeMs, keys.publicKey)
    const keyPem = toPem(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY')
    return { ...signed, keyPem }
  }

  /**
   * Signs the public key of a PKCS#10 request, after checking the request's own
   * signature (proof its sender holds the key). Only the key is taken from it:
   * the names come from the caller, as istiod takes the identity from the
   * authenticated ServiceAccount token and not from the CSR
   * (istio/istio security/pkg/server/ca/server.go CreateCertificate).
   */
  async signCsr(
    csrPem: string,
    names: { spiffeId: string } | { hosts: string[] },
    lifetimeMs: number,
  ): Promise<{ certPem: string; notBefore: Date; notAfter: Date }> {
    let csr: x509.Pkcs10CertificateRequest
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem)
    } catch (error) {
      throw new CsrError(`not a PEM PKCS#10 certificate request: ${(error as Error).message}`)
    }
    if (!(await csr.verify().catch(() => false))) throw new CsrError('the request signature does not verify')
    let publicKey: CryptoKey
    try {
      publicKey = await csr.publicKey.export(EC, ['verify'])
    } catch {
      throw new CsrError('the requested key is not an ECDSA P-256 key')
    }
    if ('spiffeId' in names)
      return this.#sign('', [{ type: 'url', value: names.spiffeId }], lifetimeMs, publicKey)
    return this.#sign(`CN=${names.hosts[0] ?? 'gateway'}`, hostNames(names.hosts), lifetimeMs, publicKey)
  }

  /** A workload's X.509-SVID: an empty subject and exactly one URI SAN, its SPIFFE ID. */
  issueSvid(spiffeId: string, lifetimeMs: number): Promise<IssuedCertificate> {
    return this.#issue('', [{ type: 'url', value: spiffeId }], lifetimeMs)
  }

  /** The gateway's TLS certificate for browsers: the Gateway's hosts as DNS names. */
  issueServerCertificate(hosts: string[], lifetimeMs: number): Promise<IssuedCertificate> {
    return this.#issue(`CN=${hosts[0] ?? 'gateway'}`, hostNames(hosts), lifetimeMs)
  }
}
