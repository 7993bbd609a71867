// Checks a peer certificate as an X.509-SVID: a leaf (not a CA) carrying
// exactly one URI SAN that is a SPIFFE ID, with digitalSignature and without
// keyCertSign or cRLSign. The TLS handshake has already checked the chain.
// @peculiar/x509 resolves its internals through tsyringe, which needs this polyfill.
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'

export class SvidError extends Error {
  readonly code = 'ERR_MESH_SVID'
}

const SPIFFE_ID = /^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$/

const cache = new Map<string, string>()

/** The SPIFFE ID of a peer's DER certificate, or SvidError. */
export function spiffeIdOf(der: Buffer): string {
  const key = der.toString('base64')
  const known = cache.get(key)
  if (known) return known
  const cert = new x509.X509Certificate(der)
  const basic = cert.getExtension(x509.BasicConstraintsExtension)
  if (basic?.ca) throw new SvidError('peer certificate is a CA certificate')
  const usage = cert.getExtension(x509.KeyUsagesExtension)
  if (!usage || !(usage.usages & x509.KeyUsageFlags.digitalSignature))
    throw new SvidError('peer certificate lacks digitalSignature')
  if (usage.usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign))
    throw new SvidError('peer leaf certificate may sign certificates')
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension)
  const uris = san?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? []
  if (uris.length !== 1)
    throw new SvidError(`peer certificate has ${uris.length} URI SANs, an SVID has exactly one`)
  const id = uris[0] as string
  if (
    !SPIFFE_ID.test(id) ||
    id
      .split('/')
      .slice(3)
      .some((s) => s === '.' || s === '..')
  )
    throw new SvidError(`peer URI SAN ${id} is not a SPIFFE ID`)
  if (cache.size > 1000) cache.clear()
  cache.set(key, id)
  return id
}

export const principalOf = (spiffeId: string): string => spiffeId.replace(/^spiffe:\/\//, '')
export const spiffeIdFor = (principal: string): string => `spiffe://${principal}`
